"""The web console: static pages served at ``/`` that talk only to the public ``/v1`` API.

No server-side logic lives here: the browser signs in with an API key (kept in
``sessionStorage``) and calls ``/v1`` with it, so the console sees exactly what that key may see.
"""

from api.console.router import install_console

__all__ = ["install_console"]
