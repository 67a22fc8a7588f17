"""The per-container shim: owns init, holds its stdio, writes the json-file log, serves attach/exec.
May import berth.runtime.{linux,cgroups,logfile,spec,errors}, berth.oci, berth.util — never asyncio.
Entry points: ``server.run_shim`` (called in a fork of the forkserver), ``protocol`` (wire format).
"""
