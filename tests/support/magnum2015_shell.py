"""Runs python-magnumclient 1.1.0's shell on Python 3 (test code; executed inside its venv).

Two quirks of the client's age, worked around here and nowhere else:

1. its ``main()`` hands argparse ``map(...)`` of the arguments; Python 3's ``map`` is consumed by
   the first parse, so every command printed the help. The shell's class is called with a list.
2. its Keystone password login has no domain options, and Keystone v3 needs them: keystoneauth's
   ``password`` loader is given ``Default`` for the user's and the project's domain.
"""

import sys

from keystoneauth1 import loading
from magnumclient import shell

_get_loader = loading.get_plugin_loader


class _DomainDefaultingLoader:
    def __init__(self, loader):
        self._loader = loader

    def load_from_options(self, **kwargs):
        kwargs.setdefault("user_domain_name", "Default")
        kwargs.setdefault("project_domain_name", "Default")
        return self._loader.load_from_options(**kwargs)


def _loader(name):
    loader = _get_loader(name)
    return _DomainDefaultingLoader(loader) if name == "password" else loader


loading.get_plugin_loader = _loader


def main():
    try:
        shell.OpenStackMagnumShell().main(list(sys.argv[1:]))
    except Exception as exc:  # as the client's own main() reports errors
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
