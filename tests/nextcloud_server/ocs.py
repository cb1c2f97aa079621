"""Core OCS endpoints: capabilities, the current user, and the provisioning API for groups/users."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .common import Ctx, OCSError, ocs_response
from .routing import Route
from .state import ServerState, User
from .versions import RELEASES, Release

VERSION: dict[str, Any] = RELEASES[32].version


def spreed_capabilities(release: Release = RELEASES[32], federation: bool = False) -> dict[str, Any]:
    """Talk's capabilities for the release (shaped per the spreed OpenAPI spec)."""
    data: dict[str, Any] = {
        "features": [
            "audio",
            "video",
            "chat-v2",
            "conversation-v4",
            "chat-replies",
            "chat-reference-id",
            "circles-support",
            "talk-polls",
            "silent-send",
            "silent-send-state",
            "message-expiration",
            "reactions",
            "rich-object-sharing",
            "bots-v1",
            "federation-v1",
            "markdown-messages",
            "edit-messages",
            "chat-keep-notifications",
            "room-description",
            "avatar",
            "talk-polls-drafts",
            *release.talk_features,
        ],
        "features-local": ["favorites", "chat-read-status", "avatar"],
        "config": {
            "attachments": {"allowed": True, "folder": "/Talk", "conversation-subfolders": False},
            "call": {
                "enabled": True,
                "breakout-rooms": True,
                "recording": False,
                "recording-consent": 0,
                "supported-reactions": ["❤️", "🎉", "👏", "👍", "👎", "😂", "🤩", "🤔", "😲", "😥"],
                "predefined-backgrounds": [],
                "predefined-backgrounds-v2": [],
                "can-upload-background": True,
                "sip-enabled": False,
                "sip-dialout-enabled": False,
                "default-phone-region": "",
                "can-enable-sip": False,
                "start-without-media": False,
                "max-duration": 0,
                "blur-virtual-background": False,
                "end-to-end-encryption": False,
                "live-transcription": False,
                "live-translation": False,
                "live-transcription-target-language-id": "",
                "play-sounds": True,
                "grid-limit": 0,
                "grid-limit-enforced": False,
            },
            "chat": {
                "max-length": 32000,
                "read-privacy": 0,
                "has-translation-providers": False,
                "has-translation-task-providers": False,
                "typing-privacy": 0,
                "summary-threshold": 100,
                "style": "split",
                "matterbridge-enabled": False,
            },
            "conversations": {
                "can-create": True,
                "force-passwords": False,
                "list-style": "two-lines",
                "description-length": 2000,
                "retention-event": 28,
                "retention-phone": 7,
                "retention-instant-meetings": 1,
                "retention-classified": 0,
                "sort-order": "activity",
                "group-mode": "none",
            },
            "federation": {
                "enabled": federation,
                "incoming-enabled": federation,
                "outgoing-enabled": federation,
                "only-trusted-servers": True,
            },
            "previews": {"max-gif-size": 3145728},
            "signaling": {"session-ping-limit": 200, "mode": "internal"},
            "experiments": {"enabled": 0},
            "feature-hints": {"current": 1, "hidden": 0},
            "permissions": {"max-default": 254, "max-custom": 254, "default": 254},
        },
        "config-local": {
            "attachments": ["folder"],
            "chat": ["read-privacy", "has-translation-providers", "typing-privacy"],
            "conversations": ["list-style", "description-length"],
            "call": ["predefined-backgrounds", "can-upload-background"],
        },
        "version": release.talk,
    }
    if not release.description_capability:  # Talk 20: no capability, the implicit limit of 500
        conversations = data["config"]["conversations"]
        for key in ("description-length", "force-passwords", "list-style"):
            conversations.pop(key)
        data["config-local"]["conversations"] = []
    return data


def capabilities(
    base_url: str, release: Release = RELEASES[32], *, federation: bool = False, files_lock: bool = True
) -> dict[str, Any]:
    """The ``capabilities`` object of ``/cloud/capabilities`` for the apps this server emulates."""
    data = {
        "core": {
            "pollinterval": 60,
            "webdav-root": "remote.php/webdav",
            "reference-api": True,
            "reference-regex": (
                "(\\s|\\n|^)(https?:\\/\\/)((?:[-A-Z0-9+_]+\\.)+[-A-Z]+(?:\\/[-A-Z0-9+&@#%?=~_|!:,.;()]*)*)(\\s|\\n|$)"
            ),
            "mod-rewrite-working": False,
        },
        "bruteforce": {"delay": 0, "allow-listed": False},
        "dav": {"chunking": "1.0", "bulkupload": "1.0"},
        "files": {
            "bigfilechunking": True,
            "blacklisted_files": [".htaccess"],
            "undelete": True,
            "version_labeling": True,
            "version_deletion": True,
            "locking": "1.0",
            "api-feature-lock-type": True,
        },
        "files_sharing": {
            "api_enabled": True,
            "public": {
                "enabled": True,
                "password": {"enforced": False, "askForOptionalPassword": False},
                "multiple_links": True,
                "expire_date": {"enabled": False},
                "expire_date_internal": {"enabled": False},
                "expire_date_remote": {"enabled": False},
                "send_mail": False,
                "upload": True,
                "upload_files_drop": True,
            },
            "user": {"send_mail": False, "expire_date": {"enabled": True}},
            "resharing": True,
            "group_sharing": True,
            "group": {"enabled": True, "expire_date": {"enabled": True}},
            "default_permissions": 31,
            "federation": {
                "outgoing": True,
                "incoming": True,
                "expire_date": {"enabled": True},
                "expire_date_supported": {"enabled": True},
            },
            "sharee": {"query_lookup_default": False, "always_show_unique": True},
            "sharebymail": {
                "enabled": True,
                "send_password_by_mail": True,
                "upload_files_drop": {"enabled": True},
                "password": {"enabled": True, "enforced": False},
                "expire_date": {"enabled": True, "enforced": False},
            },
        },
        "circles": {
            "version": release.server,
            "status": {"globalScale": False},
            "settings": {"frontendEnabled": True, "allowedCircles": 262143, "allowedUserTypes": 31, "membersLimit": -1},
            "circle": {
                "constants": {
                    "flags": {
                        "1": "Single",
                        "2": "Personal",
                        "4": "System",
                        "8": "Visible",
                        "16": "Open",
                        "32": "Invite",
                        "64": "Join Request",
                        "128": "Friends",
                        "256": "Password Protected",
                        "512": "No Owner",
                        "1024": "Hidden",
                        "2048": "Backend",
                        "4096": "Local",
                        "8192": "Root",
                        "16384": "Circle Invite",
                        "32768": "Federated",
                        "65536": "Mount point",
                    },
                    "source": {
                        "core": {
                            "1": "Nextcloud Account",
                            "2": "Nextcloud Group",
                            "4": "Email Address",
                            "8": "Contact",
                            "16": "Circle",
                            "10000": "Nextcloud App",
                        },
                        "extra": {},
                    },
                },
                "config": {"coreFlags": [1, 2, 4], "systemFlags": [512, 1024, 2048]},
            },
            "member": {
                "constants": {"level": {"1": "Member", "4": "Moderator", "8": "Admin", "9": "Owner"}},
                "type": {
                    "0": "single",
                    "1": "user",
                    "2": "group",
                    "4": "mail",
                    "8": "contact",
                    "16": "circle",
                    "10000": "app",
                },
            },
        },
        "spreed": spreed_capabilities(release, federation),
        "deck": {"version": release.deck, "canCreateBoards": True, "apiVersions": ["1.0", "1.1"]},
        "theming": {
            "name": "Nextcloud",
            "productName": "Nextcloud",
            "url": "https://nextcloud.com",
            "slogan": "a safe home for all your data",
            "color": "#00679e",
            "color-text": "#ffffff",
            "color-element": "#00679e",
            "color-element-bright": "#00679e",
            "color-element-dark": "#00679e",
            "logo": f"{base_url}/core/img/logo/logo.svg?v=0",
            "background": f"{base_url}/apps/theming/img/background/jo-myoung-hee-fluid.webp",
            "background-text": "#ffffff",
            "background-plain": False,
            "background-default": True,
            "logoheader": f"{base_url}/core/img/logo/logo.svg?v=0",
            "favicon": f"{base_url}/core/img/logo/logo.svg?v=0",
        },
    }
    if files_lock:  # the files_lock app announces itself; without it there is no user lock at all
        data["files"]["locking"] = "1.0"
        data["files"]["api-feature-lock-type"] = True
    else:
        del data["files"]["locking"], data["files"]["api-feature-lock-type"]
    return data


async def get_capabilities(ctx: Ctx) -> Response:
    """``GET /cloud/capabilities`` — a public page: no login and no OCS header needed."""
    ctx.authenticate()
    server = ctx.server
    data = {
        "version": server.release.version,
        "capabilities": capabilities(
            server.base_url, server.release, federation=server.federation, files_lock=server.files_lock
        ),
    }
    for app in server.disabled_apps:  # a disabled app announces nothing
        data["capabilities"].pop(app, None)
    return ocs_response(ctx.request, data)


def user_details(state: ServerState, user: User) -> dict[str, Any]:
    """``UserDetails`` as ``/cloud/user`` returns it (keys in Nextcloud's order)."""
    used = sum(node.size for node in state.roots[user.uid].children.values())
    return {
        "enabled": True,
        "storageLocation": f"/var/www/html/data/{user.uid}",
        "id": user.uid,
        "lastLogin": user.last_login * 1000,
        "backend": "Database",
        "subadmin": sorted(state.subadmins.get(user.uid, set())),
        "quota": {"free": 447793922048, "used": used, "total": 447793922048 + used, "relative": 0.01, "quota": -3},
        "manager": "",
        "avatarScope": "v2-federated",
        "email": user.email,
        "emailScope": "v2-federated",
        "additional_mail": [],
        "additional_mailScope": [],
        "displayname": user.display_name,
        "display-name": user.display_name,
        "displaynameScope": "v2-federated",
        "phone": "",
        "phoneScope": "v2-local",
        "address": "",
        "addressScope": "v2-local",
        "website": "",
        "websiteScope": "v2-local",
        "twitter": "",
        "twitterScope": "v2-local",
        "fediverse": "",
        "fediverseScope": "v2-local",
        "organisation": "",
        "organisationScope": "v2-local",
        "role": "",
        "roleScope": "v2-local",
        "headline": "",
        "headlineScope": "v2-local",
        "biography": "",
        "biographyScope": "v2-local",
        "profile_enabled": "1",
        "profile_enabledScope": "v2-local",
        "pronouns": "",
        "pronounsScope": "v2-federated",
        "groups": state.groups_of(user.uid),
        "language": user.language,
        "locale": "",
        "notify_email": None,
        "backendCapabilities": {"setDisplayName": True, "setPassword": True},
    }


async def get_current_user(ctx: Ctx) -> Response:
    """``GET /cloud/user``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        return ocs_response(ctx.request, user_details(ctx.state, ctx.state.users[uid]))


async def get_user(ctx: Ctx) -> Response:
    """``GET /cloud/users/{userId}`` (admins, or the user themself)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        target = ctx.state.users.get(ctx.match["user"])
        if target is None:
            raise OCSError(404, "User does not exist")
        if target.uid != uid and not ctx.state.is_admin(uid):
            raise OCSError(403, "Logged in account must be an admin or sub admin")
        return ocs_response(ctx.request, user_details(ctx.state, target))


def _require_admin(ctx: Ctx) -> str:
    uid = ctx.require_user()
    ctx.require_ocs_header()
    if not ctx.state.is_admin(uid):
        raise OCSError(403, "Logged in account must be an admin")
    return uid


async def create_user(ctx: Ctx) -> Response:
    """``POST /cloud/users`` with ``userid``, ``password``, ``displayName``, ``email``, ``groups[]``."""
    _require_admin(ctx)
    with ctx.state.lock:
        new_uid = str(ctx.param("userid", "")).strip()
        if not new_uid:
            raise OCSError(101, "Invalid user name")
        if new_uid in ctx.state.users:
            raise OCSError(102, "User already exists")
        groups = ctx.param("groups", []) or []
        for gid in groups:
            if gid not in ctx.state.groups:
                raise OCSError(104, "Group does not exist")
        password = str(ctx.param("password", "")) or "generated-" + new_uid
        user = ctx.state.add_user(new_uid, password, str(ctx.param("displayName", "")) or None)
        user.email = str(ctx.param("email", "")) or None
        for gid in groups:
            ctx.state.groups[gid].append(new_uid)
        return ocs_response(ctx.request, {"id": new_uid})


async def list_groups(ctx: Ctx) -> Response:
    """``GET /cloud/groups``."""
    _require_admin(ctx)
    with ctx.state.lock:
        return ocs_response(ctx.request, {"groups": sorted(ctx.state.groups, key=str.lower)})


async def create_group(ctx: Ctx) -> Response:
    """``POST /cloud/groups`` with ``groupid``."""
    _require_admin(ctx)
    with ctx.state.lock:
        gid = str(ctx.param("groupid", "")).strip()
        if not gid:
            raise OCSError(101, "Invalid group name")
        if gid in ctx.state.groups:
            raise OCSError(102, "group exists")
        ctx.state.groups[gid] = []
        return ocs_response(ctx.request, [])


async def get_group(ctx: Ctx) -> Response:
    """``GET /cloud/groups/{groupId}``: the group's members (admins and its sub-admins)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        gid = ctx.match["group"]
        members = ctx.state.groups.get(gid)
        if members is None:
            raise OCSError(404, "The requested group could not be found")
        if not ctx.state.is_admin(uid) and not ctx.state.is_subadmin_of(uid, gid):
            raise OCSError(997, "User does not have access to specified group")
        return ocs_response(ctx.request, {"users": sorted(members, key=str.lower)})


async def delete_group(ctx: Ctx) -> Response:
    """``DELETE /cloud/groups/{groupId}``."""
    _require_admin(ctx)
    with ctx.state.lock:
        gid = ctx.match["group"]
        if gid not in ctx.state.groups:
            raise OCSError(101, "Group does not exist")
        if gid == "admin":
            raise OCSError(102, "Cannot delete admin group")
        del ctx.state.groups[gid]
        return ocs_response(ctx.request, [])


async def get_user_groups(ctx: Ctx) -> Response:
    """``GET /cloud/users/{userId}/groups``."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        target = ctx.match["user"]
        if target not in ctx.state.users:
            raise OCSError(404, "User does not exist")
        if target != uid and not ctx.state.is_admin(uid):
            raise OCSError(403, "Logged in account must be an admin or sub admin")
        return ocs_response(ctx.request, {"groups": ctx.state.groups_of(target)})


def _membership_checks(ctx: Ctx, uid: str) -> tuple[str, str]:
    """Shared checks of add/remove: 101 no group id, 102 no group, 103 no user, 104 no rights."""
    gid = str(ctx.param("groupid", ""))
    if gid == "":
        raise OCSError(101)
    if gid not in ctx.state.groups:
        raise OCSError(102)
    target = ctx.match["user"]
    if target not in ctx.state.users:
        raise OCSError(103)
    if not ctx.state.is_admin(uid) and not ctx.state.is_subadmin_of(uid, gid):
        raise OCSError(104)
    return gid, target


async def add_user_to_group(ctx: Ctx) -> Response:
    """``POST /cloud/users/{userId}/groups`` (admins, or sub-admins of that group)."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        gid, target = _membership_checks(ctx, uid)
        if target not in ctx.state.groups[gid]:
            ctx.state.groups[gid].append(target)
        return ocs_response(ctx.request, [])


async def remove_user_from_group(ctx: Ctx) -> Response:
    """``DELETE /cloud/users/{userId}/groups?groupid=``, with Nextcloud's 105 refusals."""
    uid = ctx.require_user()
    ctx.require_ocs_header()
    with ctx.state.lock:
        gid, target = _membership_checks(ctx, uid)
        is_admin = ctx.state.is_admin(uid)
        if target == uid:
            if is_admin and gid == "admin":
                raise OCSError(105, "Cannot remove yourself from the admin group")
            if not is_admin:
                raise OCSError(105, "Cannot remove yourself from this group as you are a sub-admin")
        elif not is_admin:
            target_groups = set(ctx.state.groups_of(target))
            if len(ctx.state.subadmins.get(uid, set()) & target_groups) <= 1:
                raise OCSError(105, "Not viable to remove user from the last group you are sub-admin of")
        if target in ctx.state.groups[gid]:
            ctx.state.groups[gid].remove(target)
        return ocs_response(ctx.request, [])


_OCS = r"^/ocs/v[12]\.php"
ROUTES: list[Route] = [
    Route(("GET",), _OCS + r"/cloud/capabilities$", get_capabilities),
    Route(("GET",), _OCS + r"/cloud/user$", get_current_user),
    Route(("POST",), _OCS + r"/cloud/users$", create_user),
    Route(("GET",), _OCS + r"/cloud/users/(?P<user>[^/]+)$", get_user),
    Route(("GET",), _OCS + r"/cloud/users/(?P<user>[^/]+)/groups$", get_user_groups),
    Route(("POST",), _OCS + r"/cloud/users/(?P<user>[^/]+)/groups$", add_user_to_group),
    Route(("DELETE",), _OCS + r"/cloud/users/(?P<user>[^/]+)/groups$", remove_user_from_group),
    Route(("GET",), _OCS + r"/cloud/groups$", list_groups),
    Route(("POST",), _OCS + r"/cloud/groups$", create_group),
    Route(("GET",), _OCS + r"/cloud/groups/(?P<group>[^/]+)$", get_group),
    Route(("DELETE",), _OCS + r"/cloud/groups/(?P<group>[^/]+)$", delete_group),
]
