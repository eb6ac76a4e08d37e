"""Load users for any API from its configuration's roles: `harness load --spec --config`.

`harness load` runs this file when it is given a document and a configuration
but no `--locustfile` (see docs/load-testing.md). By hand:

    HARNESS_LOAD_CONFIG=harness.yaml locust -f loadtests/roles_locustfile.py \
        --headless -u 20 -r 10 -t 1m --host http://MOCK:8080
"""

from __future__ import annotations

from loadtests.role_users import RoleUser


class RoleClientUser(RoleUser):
    """A careful client of the configured API (loadtests/role_client.py)."""
