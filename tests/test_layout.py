"""The tree shows the stages, and the arrows between them point one way:
each folder imports only what its __init__ docstring allows."""

import ast
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "guestfix")
# folder -> the folders (or folder.module) it may import from
ALLOWED = {
    "core": set(),
    "disks": {"core", "domain.model"},
    "domain": {"core", "disks.image"},
    "fix": {"core", "disks"},
    "sources": {"core", "disks", "domain"},
    "outputs": {"core", "disks", "domain", "bootcheck"},
    "bootcheck": {"core", "disks", "fix"},
}


def imported(path, module):
    """guestfix modules a file imports, as folder or folder.module names."""
    tree = ast.parse(open(path).read())
    here = module.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            names = [target + [a.name] for a in node.names] if not node.module else [target]
            for parts in names:
                if len(parts) > 1:
                    found.add(".".join(parts[1:3]))
    return found


def test_each_folder_imports_only_what_it_says():
    for folder, allowed in ALLOWED.items():
        for root, _dirs, files in os.walk(os.path.join(PACKAGE, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(root, name)
                module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                for target in imported(path, module):
                    top = target.split(".")[0]
                    if top in (folder, "__version__"):
                        continue
                    assert top in allowed or target in allowed, f"{module} imports {target}"


def test_every_folder_says_what_it_holds():
    for folder in ALLOWED:
        with open(os.path.join(PACKAGE, folder, "__init__.py")) as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ""
        assert "Imports:" in doc, f"guestfix/{folder}/__init__.py"


def test_the_collection_offers_the_input_modes_guestfix_has():
    """The Ansible module runs on the controller without guestfix, so it
    keeps its own list of -i modes: those guestfix migrates from."""
    from guestfix.sources import MIGRATE_MODES

    path = os.path.join(
        REPO, "ansible/ansible_collections/guestfix/kvm/plugins/modules/migrate.py"
    )
    text = open(path).read()
    spec = re.search(r"\binput=dict\((.*?)\),\n", text, re.S).group(1)
    assert all(f'"{mode}"' in spec for mode in MIGRATE_MODES), spec
