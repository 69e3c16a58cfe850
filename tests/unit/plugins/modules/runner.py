# -*- coding: utf-8 -*-
"""Run a module's main() in-process as Ansible would, on ansible-core 2.19 and on 2.11 (EL7's Python)."""

from __future__ import absolute_import, division, print_function

import io
import json
import sys

import pytest

from ansible.module_utils import basic


def run_module(main, args, check_mode=False, diff=False):
    """Call main() with these module arguments; return its JSON result, with the exit code as `rc`."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    try:  # ansible-core >= 2.19
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core 2.11 reads the serialized arguments from this global
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")
        try:
            return _call(main)
        finally:
            basic._ANSIBLE_ARGS = None
    with patch_module_args(args):
        return _call(main)


def _call(main):
    out = io.StringIO()
    real_stdout = sys.stdout
    sys.stdout = out
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.stdout = real_stdout
    result = json.loads(out.getvalue())
    result["rc"] = exit_info.value.code
    return result
