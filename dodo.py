"""doit entry point: `doit list` shows the stages, `doit verify` runs them.

The config is ./fixproof.toml, or the file named by FIXPROOF_CONFIG or by
`doit verify config=FILE`; the evidence bundle goes to <reports>/evidence,
or to `doit verify evidence=DIR`. The stages are those of the stage registry
(fixproof.registry); task creation happens when doit asks for the tasks,
never at import time.
"""

import functools
from pathlib import Path

from doit import get_var
from doit.exceptions import InvalidDodoFile

from fixproof import config as _config
from fixproof import tasks as _tasks
from fixproof.errors import FixproofError

DOIT_CONFIG = _tasks.DOIT_CONFIG  # the same settings as `fixproof verify`


@functools.lru_cache(maxsize=None)
def _namespace():
    path = get_var("config", None) or _tasks.config_path_from_env() or "fixproof.toml"
    try:
        evidence = get_var("evidence", None)  # `doit verify evidence=DIR`, else <reports>/evidence
        return _tasks.fleet_namespace(_config.load_all(path), evidence=Path(evidence).resolve() if evidence else None)
    except FixproofError as e:  # doit prints this as one line, no traceback
        raise InvalidDodoFile(str(e)) from e


def _task(name, doc):
    def creator():
        return _namespace()[f"task_{name}"]()
    creator.__doc__ = doc
    return creator


for _name, _doc in _tasks.docs().items():  # one task per stage of the registry, plus report and verify
    globals()[f"task_{_name}"] = _task(_name, _doc)
