"""The notebook where people open it: JupyterLab and Notebook 7, in a real browser.

`make lab`'s own server (``lab.py``) shows the working copy of a temporary copy of the
notebook's folder, a git repository with a small synthetic, digit-like ``mnist.npz``.
Debian's Chromium, driven by Playwright, opens the notebook, runs all cells through the
menus and saves. Every test fails on a dialog, on an error or stderr output, and on a
warning in the server's log (which holds the kernels' own log too).
"""

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, WARNING_LINE, notebook_source
from nbformat.sign import NotebookNotary

import lab
import run_notebook
import run_record

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # as root, Chromium runs only without its sandbox
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_TIMEOUT_MS = 300_000
# A dialog anywhere, or else the condition: what the browser waits for.
DIALOG_OR = "() => document.querySelector('.jp-Dialog') ? 'dialog' : ({condition})"
KERNEL_READY = """(() => {{
  const name = document.querySelector('.jp-KernelName');
  const state = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return name && name.textContent.trim() === {display_name} && state
    && state.dataset.status === 'idle' ? 'ready' : false;
}})()"""
ALL_RUN = """(() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
  const state = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return prompts.length === 10 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent))
    && state.dataset.status === 'idle' ? 'done' : false;
})()"""


@pytest.fixture(scope="module")
def jupyter_home(tmp_path_factory):
    """Fresh per-user Jupyter and IPython folders, for the servers and for this process
    (which signs the notebooks the servers then trust): no settings, workspaces or trust
    database of whoever runs the tests."""
    home = tmp_path_factory.mktemp("jupyter-home")
    # Short: a kernel's IPC socket paths derive from it, and may not exceed 107 bytes.
    runtime = tempfile.mkdtemp(prefix="jr-")
    with pytest.MonkeyPatch.context() as mp:
        for name in ["JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"]:
            mp.setenv(name, str(home / name.lower()))
        mp.setenv("JUPYTER_RUNTIME_DIR", runtime)
        yield home
    shutil.rmtree(runtime, ignore_errors=True)


def git(folder, *args):
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def notebook_repository(folder, notebook_folder):
    """A git repository holding what the project commits beside the notebook."""
    notebook_source(folder, notebook_folder)
    shutil.copyfile(REPO / ".gitignore", folder / ".gitignore")
    git(folder, "init", "--quiet")
    git(folder, "add", lab.NOTEBOOK, "VAE.png", ".gitignore")
    git(folder, "commit", "--quiet", "-m", "the notebook")
    return folder


def serve(app, notebook_folder, tmp_path_factory):
    """``make lab``'s JupyterLab, or ``make notebook``'s Notebook 7, on its own repository."""
    source = notebook_repository(tmp_path_factory.mktemp(app) / "repo", notebook_folder)
    workspace = lab.prepare_workspace(source)
    log = source.parent / "server.log"
    with log.open("w") as out:
        with lab.running_server(app, workspace, stdout=out, stderr=subprocess.STDOUT) as server:
            server.app, server.source, server.workspace, server.log = app, source, workspace, log
            yield server


@pytest.fixture(scope="module")
def lab_server(jupyter_home, notebook_folder, tmp_path_factory):
    yield from serve("lab", notebook_folder, tmp_path_factory)


@pytest.fixture(scope="module")
def notebook_server(jupyter_home, notebook_folder, tmp_path_factory):
    yield from serve("notebook", notebook_folder, tmp_path_factory)


@pytest.fixture
def page(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"no Debian Chromium at {CHROMIUM} (`apt-get install chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",  # a fresh profile
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        page = context.pages[0]
        page.folder = tmp_path
        yield page
        context.close()


def wait(page, condition, timeout=RUN_TIMEOUT_MS):
    """Wait until ``condition`` (JavaScript) holds; fail at once if a dialog shows instead.

    On a timeout, the failure says what the page showed, and where its screenshot is.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        found = page.wait_for_function(DIALOG_OR.format(condition=condition), timeout=timeout)
    except PlaywrightTimeout:
        shot = page.folder / "timeout.png"
        page.screenshot(path=shot)
        pytest.fail(f"waited {timeout} ms for {condition}; the page ({shot}): {state(page)}")
    if found.json_value() == "dialog":
        pytest.fail(f"a dialog appeared: {page.locator('.jp-Dialog').inner_text()!r}")


def state(page):
    """The kernel's name and status, and the code cells' prompts, as the page shows them."""
    return page.evaluate(
        """() => ({
          kernel: document.querySelector('.jp-KernelName')?.textContent,
          status: document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
          prompts: [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
            .map(p => p.textContent),
        })"""
    )


def open_notebook(page, server, name, display_name):
    """Open notebook ``name``; return once its kernel is connected and idle.

    In JupyterLab, in a workspace of its own, so that it is the only notebook open: the
    default workspace would also bring back the notebooks an earlier test opened.
    """
    url = server.url(name)
    if server.app == "lab":
        url = url.replace("/lab/tree/", f"/lab/workspaces/{Path(name).stem}/tree/")
    page.goto(url)
    wait(page, KERNEL_READY.format(display_name=json.dumps(display_name)))


def run_all_and_save(page, server, name):
    """Run all cells through the Run menu, save with Ctrl+S; return the saved notebook."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    wait(page, ALL_RUN)
    page.locator(".jp-Notebook").first.click()  # focus the notebook, not the menu
    page.keyboard.press("Control+s")
    saved = server.workspace / name
    wait(page, "document.querySelector('.jp-mod-dirty') === null")  # Lab marks unsaved tabs
    for _ in range(100):
        nb = nbformat.read(saved, as_version=4)
        if all(cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code"):
            return nb
        page.wait_for_timeout(100)
    pytest.fail(f"{saved} was not saved with its outputs")


def check_outputs(page, saved):
    """What the notebook showed: the forward pass, ten epochs, five figures; no error."""
    stdout = page.evaluate(
        """() => [...document.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')]
            .map(e => e.textContent).join('')"""
    )
    printed = run_record.parse_printed(stdout)
    assert printed["forward_pass"] is not None, stdout
    assert [e["epoch"] for e in printed["epochs"]] == list(range(10)), stdout
    figures = page.evaluate(
        """() => [...document.querySelectorAll('.jp-OutputArea .jp-RenderedImage img')]
            .map(img => img.complete ? img.naturalWidth : 0)"""
    )
    assert len(figures) == 5 and all(width > 0 for width in figures), figures
    bad = page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
    )
    assert bad.count() == 0, bad.all_inner_texts()
    outputs = [out for cell in saved.cells for out in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 5


def check_figure_of_the_model(page):
    """The markdown's ``<img src="VAE.png" style="width: 300px;">`` shows our figure."""
    image = page.locator('.jp-RenderedMarkdown img[alt="Drawing"]')
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete", arg=image.element_handle(), timeout=RUN_TIMEOUT_MS
    )
    natural, shown = image.evaluate("img => [img.naturalWidth, img.width]")
    assert natural > 0, "VAE.png did not load"
    assert shown == 300


def check_server_log(server):
    text = server.log.read_text()
    assert not WARNING_LINE.findall(text), text


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_run_all_in_the_browser(app, request, page):
    """Open, Run All and save in JupyterLab and in Notebook 7: the original stays as committed."""
    server = request.getfixturevalue(f"{app}_server")
    open_notebook(page, server, lab.NOTEBOOK, "Python 3 (vae-legacy, Python 2 print)")
    if app == "lab":  # the copy carries the kernel's language_info: connecting changes nothing
        assert page.locator(".jp-mod-dirty").count() == 0
    check_figure_of_the_model(page)
    saved = run_all_and_save(page, server, lab.NOTEBOOK)
    check_outputs(page, saved)
    assert [c.source for c in saved.cells] == [
        c.source for c in nbformat.read(REPO / lab.NOTEBOOK, as_version=4).cells
    ]
    # The original is the committed bytes, and git sees nothing new: the working copy and
    # Jupyter's checkpoints are ignored.
    assert (server.source / lab.NOTEBOOK).read_bytes() == (REPO / lab.NOTEBOOK).read_bytes()
    assert (server.workspace / ".ipynb_checkpoints").is_dir()
    assert git(server.source, "status", "--porcelain") == ""
    checkpoint = ".ipynb_checkpoints/vae_exercise-checkpoint.ipynb"  # where it is not ignored
    git(server.source, "check-ignore", "--quiet", checkpoint)
    check_server_log(server)


def test_2016_kernel_runs_the_notebook_in_jupyterlab(stack_2016, lab_server, page):
    """The unchanged cells on the 2016 stack's kernel (a copy naming it), in JupyterLab."""
    name = "vae_exercise_2016.ipynb"
    nb = nbformat.read(REPO / lab.NOTEBOOK, as_version=nbformat.NO_CONVERT)
    run_notebook.use_kernel(nb, stack_2016.kernel)
    nbformat.write(nb, lab_server.workspace / name)
    NotebookNotary().sign(nb)
    open_notebook(page, lab_server, name, nb.metadata.kernelspec.display_name)
    saved = run_all_and_save(page, lab_server, name)
    check_outputs(page, saved)
    assert [c.source for c in saved.cells] == [c.source for c in nb.cells]
    assert saved.metadata.language_info.version.startswith("2.7.")
    check_server_log(lab_server)
