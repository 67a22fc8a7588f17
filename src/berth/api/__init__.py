"""Docker Engine API wire helpers shared by the client and the daemon.

May import: berth.errors, berth.oci and the standard library (kept light: the CLI imports it at start-up).
Entry points: ``versions`` (MIN/CURRENT), ``stdcopy`` (frame encode/decode), ``auth`` (X-Registry-Auth),
``filters`` (filters JSON), ``filemode`` (Go os.FileMode <-> st_mode).
"""
