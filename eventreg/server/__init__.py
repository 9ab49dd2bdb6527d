"""`eventreg serve`: the Api seam over HTTP.

Each request runs one `LocalApi` call as the user of its bearer token, on a
connection from a pool; `eventreg.api.remote.RemoteApi` is the other end. The
contract (routes, problem documents, paging) is written down in the README and
in /openapi.json. Nothing else in eventreg imports this package except the
`serve` command.
"""
