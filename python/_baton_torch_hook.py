"""Makes backend="baton" work without `import baton_torch`.

Python runs this at start-up through baton_torch.pth (installed next to it in
dist-packages). It only puts a small finder at the front of sys.meta_path;
torch is not imported. When a program imports torch.distributed, the finder
lets the normal import run, then imports baton_torch, which registers the
backend; the finder then removes itself. If baton_torch cannot be imported,
a warning says why and torch.distributed works as before, without "baton".

Start-up cost: this module's import, about 0.25 ms with its .pyc.
Threading: the finder runs under Python's import lock, like any import.
"""

import sys


class _Loader:
    """Runs torch.distributed's own loader, then imports baton_torch."""

    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        # The module keeps its own loader, as if we had never been here.
        module.__loader__ = self.inner
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        try:
            import baton_torch  # noqa: F401  (registers the backend)
        except Exception as error:  # a broken install must not break torch
            import warnings

            warnings.warn(f"baton_torch could not be loaded, backend 'baton' is unavailable: {error!r}",
                          RuntimeWarning, stacklevel=2)


class _Finder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "torch.distributed":
            return None
        _remove()
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


def _remove():
    try:
        sys.meta_path.remove(_Finder)
    except ValueError:
        pass


if "torch.distributed" not in sys.modules:
    sys.meta_path.insert(0, _Finder)
