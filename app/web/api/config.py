"""Reading and changing the configuration. Every change is validated as a whole
document, stored and applied by the io process without a restart, and logged
there with its old and new values."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from app.auth.store import Role
from app.config import ButtonConfig, Config, InputConfig, OutputConfig
from app.io.commands import GetConfig, SetConfig
from app.io.protocol import ControlError, IoUnavailableError
from app.web.api import netsettings as network
from app.web.deps import State, Switch, WholeNumber, check_number
from app.web.errors import ApiError, answers, invalid
from app.web.models import HealthyRelay
from app.web.security import Admin, Principal, Viewer

router = APIRouter(tags=["configuration"])

Number = Annotated[WholeNumber, Path(description="1-based, as on the board")]
Doc = dict[str, Any]


async def current(state: State) -> Config:
    return Config.model_validate(await state.io(GetConfig()))


async def change(state: State, edit: Callable[[Doc], None], who: Principal) -> Config:
    """Apply ``edit`` to a copy of the running configuration, validate the whole
    document, and have the io process store and apply it. One change at a time."""
    async with state.config_lock:
        doc = copy.deepcopy(await state.io(GetConfig()))
        edit(doc)
        try:
            new = Config.model_validate(doc)
        except ValidationError as exc:
            raise invalid(exc) from None
        try:
            await state.io(SetConfig(config=new, user=who.name))
        except IoUnavailableError:
            raise
        except ControlError as exc:
            raise ApiError(str(exc), status=422) from None
        return new


def _item(doc: Doc, section: str, n: int) -> None:
    check_number(section.rstrip("s"), n, len(doc[section]))


class ConfigExport(Config):
    """The configuration file: the io configuration and, in an admin's export, the
    network destinations' settings with every secret masked (``network``)."""

    network: dict[str, Any] | None = Field(
        default=None,
        description="the destinations' settings, secrets masked (GET "
        "/api/v1/integrations/settings); null: not exported (not an admin, or the network "
        "process was not running) or not to be changed by an import",
    )


class ConfigImportOut(ConfigExport):
    network_applied: bool | None = Field(
        default=None,
        description="true: the network part was applied too; false: it was not "
        "(network_error says why); null: the file had none",
    )
    network_error: str | None = None


@router.get("/config")
async def export_config(
    state: State,
    response: Response,
    who: Viewer,
    download: Annotated[Switch, Query(description="as a file to save")] = False,
) -> ConfigExport:
    """The whole configuration as one document (the file to back up or import); an
    admin's has the network settings too, their secrets masked."""
    if download:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="alarmbridge-config-{stamp}.json"'
        )
    config = await current(state)
    document = None
    if who.role is Role.ADMIN:
        try:
            document = (await network.read(state)).document
        except ApiError:  # the network process is down: the rest is exported
            document = None
    return ConfigExport.model_construct(**dict(config), network=document)


@router.put("/config", responses=answers(413))
async def import_config(
    state: State, who: Admin, body: ConfigExport, request: Request
) -> ConfigImportOut:
    """Replace the whole configuration (an exported file). It must fit this board.
    Its network part (if any) is checked first and applied after; a masked secret
    keeps this appliance's stored one, and one it lacks is an error naming the field.
    If the network process is not running, the rest is imported and the answer says
    the network part was not (``network_applied`` false)."""
    network_error = None
    if body.network is not None:
        network_error = await _network(state, body.network, who, request, dry_run=True)

    def replace(doc: Doc) -> None:
        doc.clear()
        doc.update(body.model_dump(mode="json", exclude={"network"}))

    config = await change(state, replace, who)
    if body.network is not None and network_error is None:
        network_error = await _network(state, body.network, who, request, dry_run=False)
    return ConfigImportOut.model_construct(
        **dict(config),
        network=None if body.network is None or network_error else body.network,
        network_applied=None if body.network is None else network_error is None,
        network_error=network_error,
    )


async def _network(
    state: State, document: dict[str, Any], who: Principal, request: Request, *, dry_run: bool
) -> str | None:
    """Check (or apply) the network part: None when done, the reason it could not be
    when the network process is not running; a 422 naming the fields (prefixed
    ``network.``) when it is wrong."""
    try:
        await network.apply(state, document, who, request, dry_run=dry_run)
    except ApiError as exc:
        if exc.status == 503:
            return exc.message
        for problem in exc.problems:
            problem.field = "network" + (f".{problem.field}" if problem.field else "")
        raise ApiError(f"the network settings: {exc.message}", exc.problems, exc.status) from None
    return None


async def _read(state: State, section: str, n: int) -> Any:
    config = await current(state)
    _item(config.model_dump(), section, n)
    return getattr(config, section)[n - 1]


async def _write(state: State, section: str, n: int, body: BaseModel, who: Principal) -> Any:
    def edit(doc: Doc) -> None:
        _item(doc, section, n)
        doc[section][n - 1] = body.model_dump(mode="json")

    return getattr(await change(state, edit, who), section)[n - 1]


@router.get("/inputs")
async def list_inputs(state: State) -> list[InputConfig]:
    return (await current(state)).inputs


@router.get("/inputs/{n}", responses=answers(404))
async def get_input(state: State, n: Number) -> InputConfig:
    item: InputConfig = await _read(state, "inputs", n)
    return item


@router.put("/inputs/{n}", responses=answers(404, 413))
async def put_input(state: State, who: Admin, n: Number, body: InputConfig) -> InputConfig:
    """Change every setting of input ``n``; applied at once, without a restart."""
    item: InputConfig = await _write(state, "inputs", n, body, who)
    return item


@router.get("/outputs")
async def list_outputs(state: State) -> list[OutputConfig]:
    return (await current(state)).outputs


@router.get("/outputs/{n}", responses=answers(404))
async def get_output(state: State, n: Number) -> OutputConfig:
    item: OutputConfig = await _read(state, "outputs", n)
    return item


@router.put("/outputs/{n}", responses=answers(404, 413))
async def put_output(state: State, who: Admin, n: Number, body: OutputConfig) -> OutputConfig:
    """Change every setting of output ``n``; applied at once, without a restart."""
    item: OutputConfig = await _write(state, "outputs", n, body, who)
    return item


@router.get("/button")
async def get_button(state: State) -> ButtonConfig:
    return (await current(state)).button


@router.put("/button", responses=answers(413))
async def put_button(state: State, who: Admin, body: ButtonConfig) -> ButtonConfig:
    """What the physical button (and the manual trigger) does."""

    def edit(doc: Doc) -> None:
        doc["button"] = body.model_dump(mode="json")

    return (await change(state, edit, who)).button


@router.get("/healthy-relay")
async def get_healthy_relay(state: State) -> HealthyRelay:
    return HealthyRelay(output=(await current(state)).healthy_output)


@router.put("/healthy-relay", responses=answers(413))
async def put_healthy_relay(state: State, who: Admin, body: HealthyRelay) -> HealthyRelay:
    """The output energised only while the appliance is alive (wire it to an NC
    DVR input: the DVR raises an alarm when the bridge dies); null for none."""

    def edit(doc: Doc) -> None:
        doc["healthy_output"] = body.output

    return HealthyRelay(output=(await change(state, edit, who)).healthy_output)
