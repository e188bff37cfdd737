"""User accounts: argon2 password hashes, roles, and the operations behind `phieu user ...`."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError, PhieuError
from storage import audit
from storage.models import User

ROLES = ("admin", "supervisor", "reviewer", "clerk", "enumerator")  # enumerators: post-office staff in the field, no pages of their own
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("không phải mật khẩu của ai / nobody's password")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PhieuError(
            f"Mật khẩu phải dài ít nhất {MIN_PASSWORD_LENGTH} ký tự / password needs at least {MIN_PASSWORD_LENGTH} characters"
        )
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s. With no such user a dummy hash is verified all the same,
    so an unknown name is answered in the same time as a known one (no username probing)."""
    try:
        return _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def end_sessions(user: User) -> None:
    """Every session of ``user`` stops working at its next request (logout; see review_ui.web.session_stamp)."""
    user.session_generation = (user.session_generation or 0) + 1


def _keep_an_admin(session: Session, user: User, *, role: str, active: bool) -> None:
    """Refuse a change that would leave no active admin (nobody could manage accounts from the web)."""
    if user.role != "admin" or not user.active or (role == "admin" and active):
        return
    others = session.scalar(
        select(func.count(User.id)).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise ConflictError(
            f"{user.username} là quản trị viên duy nhất đang hoạt động; hãy cho người khác quyền quản trị trước. "
            f"/ {user.username} is the only active admin; make someone else admin first."
        )


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"Không có người dùng {username!r} / no user {username!r}")
    return user


def create_user(
    session: Session, username: str, password: str, role: str, *, full_name: str = "", actor: str = "cli", language: str = "vi"
) -> User:
    if role not in ROLES:
        raise PhieuError(f"Vai trò {role!r} không hợp lệ; chọn một trong {', '.join(ROLES)} / unknown role")
    if not username or len(username) > 80 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise PhieuError(f"Tên đăng nhập {username!r} không hợp lệ (chữ, số, . - _) / invalid username")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ConflictError(f"Người dùng {username!r} đã tồn tại / user {username!r} already exists")
    user = User(username=username, full_name=full_name, password_hash=hash_password(password), role=role, language=language)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user_add", entity="user", entity_id=user.id, detail={"role": role})
    return user


def set_password(session: Session, username: str, password: str, *, actor: str = "cli") -> User:
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    audit.record(session, actor=actor, action="user_passwd", entity="user", entity_id=user.id)
    return user


def set_active(session: Session, username: str, active: bool, *, actor: str = "cli") -> User:
    user = get_user(session, username)
    _keep_an_admin(session, user, role=user.role, active=active)
    user.active = active
    audit.record(session, actor=actor, action="user_enable" if active else "user_disable", entity="user", entity_id=user.id)
    return user


def set_role(session: Session, username: str, role: str, *, actor: str) -> User:
    if role not in ROLES:
        raise PhieuError(f"Vai trò {role!r} không hợp lệ / unknown role")
    user = get_user(session, username)
    _keep_an_admin(session, user, role=role, active=user.active)
    user.role = role
    audit.record(session, actor=actor, action="user_role", entity="user", entity_id=user.id, detail={"role": role})
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
