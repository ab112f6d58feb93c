"""Admin: the dashboard, roster and matches, users, the audit log, originals and unredacted text."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from review_ui import access, accounts, prefect_status, queries
from review_ui.auth import DB, Admin, csrf_protect
from review_ui.routes.letters import image_response
from review_ui.web import redirect, render
from storage.db import audit
from storage.models import ItemStatus, Role

router = APIRouter(dependencies=[Depends(csrf_protect)])
PAGE = 100


@router.get("/admin")
def dashboard(
    request: Request,
    user: Admin,
    db: DB,
) -> Response:
    settings = request.app.state.settings
    return render(
        request,
        "admin_dashboard.html",
        board=queries.dashboard(db),
        statuses=[s.value for s in ItemStatus],
        flow_runs=prefect_status.failed_flow_runs(settings.prefect_ui_url),
    )


@router.get("/admin/roster")
def roster(
    request: Request,
    user: Admin,
    db: DB,
    q: str = "",
    page: int = 1,
) -> Response:
    page = max(1, page)
    inmates, matches, total = queries.roster(db, q, PAGE, (page - 1) * PAGE)
    return render(
        request,
        "admin_roster.html",
        inmates=inmates,
        matches=matches,
        total=total,
        q=q,
        page=page,
        more=page * PAGE < total,
    )


@router.get("/admin/users")
def users(
    request: Request,
    user: Admin,
    db: DB,
) -> Response:
    return render(
        request,
        "admin_users.html",
        users=queries.users(db),
        roles=[r.value for r in Role],
        invite_link=None,
    )


@router.post("/admin/users/invite")
def invite(
    request: Request,
    user: Admin,
    db: DB,
    email: str = Form(""),
    role: str = Form(""),
    volunteer_email: str = Form(""),
) -> Response:
    try:
        invited, token = accounts.invite_user(
            db,
            email=email,
            role=role,
            actor=user.email,
            volunteer_email=volunteer_email.strip() or None,
        )
        db.commit()
    except accounts.AccountError as exc:
        db.rollback()
        return render(
            request,
            "admin_users.html",
            status_code=400,
            users=queries.users(db),
            roles=[r.value for r in Role],
            invite_link=None,
            error=f"Not invited: {exc}.",
        )
    base = request.app.state.settings.base_url.rstrip("/")
    # The link is shown once, here; only its digest is kept.
    return render(
        request,
        "admin_users.html",
        users=queries.users(db),
        roles=[r.value for r in Role],
        invited=invited,
        invite_link=f"{base}/login?invite={token}",
    )


@router.post("/admin/users/{user_id}/active")
def set_active(
    request: Request,
    user_id: int,
    user: Admin,
    db: DB,
    active: str = Form(""),
) -> Response:
    from storage.models import User

    target = db.get(User, user_id)
    if target is None:
        raise access.not_found()
    if target.id == user.id:
        return redirect(request, "/admin/users", "You can't disable your own account.", error=True)
    accounts.set_active(db, target.email, active=active == "1", actor=user.email)
    db.commit()
    return redirect(
        request, "/admin/users", f"{target.email} {'enabled' if active == '1' else 'disabled'}."
    )


@router.get("/admin/audit")
def audit_log(
    request: Request,
    user: Admin,
    db: DB,
    q: str = "",
    action: str = "",
    item: str = "",
    page: int = 1,
) -> Response:
    page = max(1, page)
    events, more = queries.audit_log(
        db, q=q, action=action, item_id=item.strip(), limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "admin_audit.html",
        events=events,
        more=more,
        page=page,
        q=q,
        action=action,
        item=item,
        actions=queries.audit_actions(db),
    )


@router.get("/admin/letters/{item_id}/pages/{n}/original")
def original_image(
    item_id: str,
    n: str,
    user: Admin,
    db: DB,
) -> Response:
    """The page as scanned, before any cleaning or redaction. Admins only, and audited."""
    item = access.item_for(db, user, item_id)
    page = access.page_of(db, item, access.page_index(n))
    if not page.image_key:
        raise access.not_found()
    audit(db, "original_viewed", actor=user.email, item_id=item.id, page=page.index)
    db.commit()
    return image_response(page.image_key)
