# Installed by vae-legacy: every IPython kernel of this environment, whoever starts it
# (JupyterLab, Notebook 7, jupyter console, VS Code, nbclient), gives the notebook's Python 2
# print statements Python 2.7's output, and numpy its 2016 print mode.
c = get_config()  # noqa: F821 (given by IPython to its config files)
c.InteractiveShellApp.extensions.append("legacy.py2print")
