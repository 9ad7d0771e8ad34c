"""Every environment variable nemotron-kit reads, in one place.

They are settings of the user's (where the home is, which config directories, how long to wait
for a remote registry) and the references that carry secrets. None carries control between the
launcher and a job: that travels in the typed job contract (``execution.job.JobSpec``).
"""

from __future__ import annotations

#: The home of the embedded registry, caches and snapshots (default ``~/.nemotron_kit``).
HOME_ENV = "NEMOTRON_KIT_HOME"
#: The user's config directories, ``os.pathsep``-separated, first wins.
CONFIG_PATH_ENV = "NEMOTRON_KIT_CONFIG_PATH"
#: Seconds a remote registry may take to connect and to answer, where no config says it (CLI).
REGISTRY_TIMEOUT_ENV = "NEMOTRON_KIT_REGISTRY_TIMEOUT"
#: Prefix of the variables that hold secrets given as overrides (``+api_token=S`` becomes
#: ``${oc.env:NEMOTRON_KIT_SECRET_...}``): their names read as secret, so they travel as secrets.
SECRET_ENV_PREFIX = "NEMOTRON_KIT_SECRET_"
