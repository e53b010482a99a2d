# The Jupyter server configuration of `make lab`, which adds this folder to JUPYTER_CONFIG_PATH (~/.jupyter is left as it is).
# Opening a notebook makes JupyterLab write the kernel's display name and a `language_info` block (with Python's patch version)
# into its metadata, and autosave it. nbdev's pre-save hook, the one `nbdev_install_hooks` would write into ~/.jupyter, cleans
# every notebook as `nbdev_clean` does before it is saved (settings.ini: `jupyter_hooks = True`), so that a notebook only opened
# is saved as it was committed; tags (papermill's `parameters`) and outputs stay. The hook reads the notebook's path relative
# to the working folder: `make lab` starts JupyterLab in nbs/, its root.
import warnings
from nbdev.clean import clean_jupyter

c.ContentsManager.pre_save_hook = clean_jupyter  # noqa: F821 (`c` is the configuration Jupyter runs this file with)
# JupyterLab passes the server's configuration on to the contents manager a second time, which sets the same hook again
warnings.filterwarnings('ignore', r'Overriding existing pre_save_hook \(clean_jupyter\) with a new one \(clean_jupyter\)')
