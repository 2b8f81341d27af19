"""Staff pages for cases (办件): front-desk acceptance, worklist, reviewer inbox, issuance window, case page,
the printable receipt and correction notice (`pages`), and the transitions their forms post (`actions`).

Each view parses its input, checks access (a case out of scope is 404 through `case_or_404`, a place
out of scope is 404, a wrong role 403), calls the workflow and renders. Actions flush, so a
concurrent change (StaleDataError) is answered 409 within the request; the request commits once.
A refused action re-renders the page it came from with the message and the status of the refusal.
"""

from app.cases.views import actions, pages  # noqa: F401 - importing them registers their routes on `bp`
from app.cases.views.blueprint import bp

__all__ = ["bp"]
