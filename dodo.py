"""doit entry point: `doit list` shows the stages, `doit verify` runs them.

The config is ./fixproof.toml, or the file named by FIXPROOF_CONFIG or by
`doit verify config=FILE`; the evidence bundle goes to <reports>/evidence,
or to `doit verify evidence=DIR`. Task creation happens when doit asks for the
tasks, never at import time.
"""

import functools
from pathlib import Path

from doit import get_var
from doit.exceptions import InvalidDodoFile

from fixproof import config as _config
from fixproof import tasks as _tasks
from fixproof.errors import FixproofError

DOIT_CONFIG = {"default_tasks": ["verify"], "dep_file": "reports/.doit.db", "backend": "json", "verbosity": 2}


@functools.lru_cache(maxsize=None)
def _namespace():
    path = get_var("config", None) or _tasks.config_path_from_env() or "fixproof.toml"
    try:
        evidence = get_var("evidence", None)  # `doit verify evidence=DIR`, else <reports>/evidence
        return _tasks.fleet_namespace(_config.load_all(path), evidence=Path(evidence).resolve() if evidence else None)
    except FixproofError as e:  # doit prints this as one line, no traceback
        raise InvalidDodoFile(str(e)) from e


def _task(name):
    def creator():
        return _namespace()[f"task_{name}"]()
    creator.__doc__ = _tasks.DOCS[name]
    return creator


for _name in _tasks.DOCS:  # one task per stage, plus report and verify
    globals()[f"task_{_name}"] = _task(_name)
