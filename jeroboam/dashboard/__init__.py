"""The web dashboard: static ES modules and CSS served under ``/dashboard/`` by the API process,
plus the two things a browser cannot do alone (its configuration, and a Keystone sign-in without
cross-origin requests). It calls only the public API (docs/dashboard.md)."""
