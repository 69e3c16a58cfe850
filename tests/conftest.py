"""Make the checkout importable as ansible_collections.htcfarm.bsaas for every test."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".cache", "collections")
_link_dir = os.path.join(COLLECTIONS, "ansible_collections", "htcfarm")
_link = os.path.join(_link_dir, "bsaas")
if not os.path.exists(_link):
    os.makedirs(_link_dir, exist_ok=True)
    os.symlink(os.path.join("..", "..", "..", ".."), _link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
