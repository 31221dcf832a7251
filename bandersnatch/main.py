"""The ``bandersnatch`` command: the only place that prints errors and chooses exit statuses.

Exit statuses: 0 success; 1 an error the operator must look at (bad config, damaged state, a sync
that finished with failed projects, a first run that wrote a default config); 2 usage error;
3 another run holds the lock; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterator, Optional

import click

from . import __version__
from .changes import ROOT_VALIDATORS, ChangeSource, change_source
from .configuration import (
    DEFAULT_CONFIG_PATH,
    Settings,
    default_config_text,
    load_settings,
)
from .errors import EXIT_ERROR, ConfigError, MirrorError
from .master import Master
from .mirror import Mirror
from .pages.layout import PROJECTS, Layout
from .project import needs_json_api
from .session import WaitTally, make_session
from .state import StateFiles
from .storage import Storage, open_storage

if TYPE_CHECKING:
    from .commands.manifest import Transfer

# The operator commands import their modules when they run: a no-op cron `mirror` run is mostly
# interpreter start-up and imports, and it needs none of them (bench scenario 2).

__all__ = ["cli", "main"]

logger = logging.getLogger("bandersnatch")
EXIT_INTERRUPTED = 130


def _configure_logging(debug: bool) -> None:
    """Plain lines on stderr: cron pipes them to logger(1), so no colour and no decoration."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _reports_errors(command: Callable[..., int]) -> Callable[..., None]:
    """Turn the error tree into one line and an exit status; a traceback only with --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        context = click.get_current_context()
        try:
            status = command(*args, **kwargs)
        except MirrorError as error:
            logger.error("%s", error, exc_info=context.obj["debug"])
            status = error.exit_code
        except OSError as error:  # the mirror's directory unwritable, a full disk, ...
            logger.error("%s", error, exc_info=context.obj["debug"])
            status = EXIT_ERROR
        except KeyboardInterrupt:
            logger.error("Interrupted; the next run resumes from the todo file")
            status = EXIT_INTERRUPTED
        context.exit(status)

    return wrapper


def _settings(config: Path, write_default: bool) -> Settings:
    if not config.exists() and write_default:
        try:
            with open(config, "x", encoding="utf-8") as handle:
                handle.write(default_config_text())
        except OSError as error:
            raise ConfigError(f"no config at {str(config)!r} and cannot write one: {error}") from None
        raise ConfigError(f"No config found: wrote a default one to {config}; review it and run again")
    if not config.exists():
        raise ConfigError(f"no config at {str(config)!r} (run `bandersnatch mirror` to create one)")
    return load_settings(config)


def _master(settings: Settings) -> Master:
    waits = WaitTally()  # the session's retries and the master's pacing both add to it
    session = make_session(
        settings.workers, settings.master, downloads=settings.download_workers, contact=settings.contact,
        max_retry_after=settings.max_retry_after, waits=waits,
    )  # fmt: skip
    return Master(
        settings.master, timeout=settings.timeout, session=session, workers=settings.workers,
        max_metadata_size=settings.max_metadata_size, json_api=needs_json_api(settings), waits=waits,
        max_retry_after=settings.max_retry_after,
    )  # fmt: skip


def _engine(settings: Settings, storage: Optional[Storage] = None) -> Mirror:
    master, storage = _master(settings), storage or open_storage(settings)
    progress = _tty_progress if sys.stderr.isatty() else None
    changes = _changes(settings, master, storage)
    if settings.api_method == "index":  # a foreign index answers for its projects' pages itself
        return Mirror(settings, changes, storage, changes, progress)  # type: ignore[arg-type]
    return Mirror(settings, master, storage, changes, progress)


def _resync(settings: Settings, storage: Storage) -> Callable[[list[str]], list[str]]:
    """The engine's own project sync for ``verify --repair``: the failures, one line each."""

    def resync(names: list[str]) -> list[str]:
        summary = _engine(settings, storage).resync(names)
        return [result.error or "" for result in summary.failed] + [
            f"{name}: not on the master or excluded by the filters" for name in summary.refused
        ]

    return resync


def _changes(settings: Settings, master: Master, storage: Storage, keep: bool = True) -> ChangeSource:
    """``keep``: store the PEP 691 root's validators (a run, under the lock); ``status`` only reads them."""
    if settings.api_method == "index":
        from .foreign import ForeignIndex

        return ForeignIndex(
            master, storage, lambda: storage.list_web_dirs(PROJECTS), settings.delete_packages, settings.workers
        )
    return change_source(
        settings.api_method, master, lambda: storage.list_web_dirs(PROJECTS), settings.delete_packages,
        load=lambda: storage.read_state(ROOT_VALIDATORS),
        save=(lambda text: storage.write_state(ROOT_VALIDATORS, text)) if keep else None,
    )  # fmt: skip


def _tty_progress(total: int, label: str = "Syncing projects") -> ContextManager[Callable[[int], None]]:
    @contextlib.contextmanager
    def bar() -> Iterator[Callable[[int], None]]:
        with click.progressbar(length=total, label=label, file=sys.stderr) as progress:
            yield progress.update

    return bar()


_allow_mass_deletion = click.option(
    "--allow-mass-deletion", is_flag=True,
    help="Delete more projects (or orphan files) than [mirror] max-deletions allows, on purpose.",
)  # fmt: skip


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c", "--config", type=click.Path(dir_okay=False, path_type=Path), envvar="BANDERSNATCH_CONFIG",
    default=DEFAULT_CONFIG_PATH, show_default=True, help="Configuration file (env: BANDERSNATCH_CONFIG).",
)  # fmt: skip
@click.option("--debug", is_flag=True, help="Log DEBUG lines (and tracebacks).")
@click.version_option(__version__, prog_name="bandersnatch")
@click.pass_context
def cli(context: click.Context, config: Path, debug: bool) -> None:
    """A PyPI mirror client (PEP 381)."""
    _configure_logging(debug)
    context.obj = {"config": config, "debug": debug}


@cli.command()
@click.option(
    "--force-check", is_flag=True, help="Re-check every project (a full sync); fetch only what is missing or wrong."
)
@_allow_mass_deletion
@click.option("--dry-run", is_flag=True, help="Only print what the run would do (its plan); write and download nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print the plan as JSON (plan.json's keys).")
@click.pass_obj
@_reports_errors
def mirror(obj: dict[str, Any], force_check: bool, allow_mass_deletion: bool, dry_run: bool, as_json: bool) -> int:
    """Bring the mirror up to date with the master (every run leaves its plan in plan.json)."""
    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run (a real run writes its plan to plan.json)")
    settings = _settings(obj["config"], write_default=not dry_run)
    summary = _engine(settings).synchronize(
        force_check=force_check, allow_mass_deletion=allow_mass_deletion, dry_run=dry_run
    )
    if dry_run and summary.plan is not None:
        from .plan import render_plan

        click.echo(render_plan(summary.plan, as_json), nl=False)
        return EXIT_ERROR if summary.plan["refused"] else 0
    return 0 if summary.ok else EXIT_ERROR


@cli.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@_reports_errors
def sync(obj: dict[str, Any], names: tuple[str, ...]) -> int:
    """Bring these projects up to date now, whatever the status says (which does not move)."""
    summary = _engine(_settings(obj["config"], write_default=False)).sync_projects(list(names))
    return 0 if summary.ok else EXIT_ERROR


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--prometheus", is_flag=True, help="Print the metrics file's text (Prometheus exposition format).")
@click.pass_obj
@_reports_errors
def status(obj: dict[str, Any], as_json: bool, prometheus: bool) -> int:
    """Where the mirror stands: serial, lag behind the master, the last run, owed projects.

    Exit 0 when healthy, 1 when projects are owed or the last run did not succeed.
    """
    settings = _settings(obj["config"], write_default=False)
    storage = open_storage(settings)
    master = _master(settings)
    try:
        master_serial: Optional[int] = _changes(settings, master, storage, keep=False).master_serial()
    except MirrorError as error:
        logger.warning("Cannot ask the master for its serial: %s", error)
        master_serial = None
    from .report import mirror_status, render_status, status_json

    if prometheus:
        import time

        from .watch import prometheus_text

        report, text = prometheus_text(settings, storage, master_serial, time.time())
        click.echo(text, nl=False)
        return 0 if report.healthy else EXIT_ERROR
    report = mirror_status(StateFiles(storage), master_serial)
    click.echo(status_json(report) if as_json else render_status(report), nl=not as_json)
    return 0 if report.healthy else EXIT_ERROR


@cli.command("nginx-config")
@click.option("--njs", is_flag=True, help="Print the njs module that [serve] negotiation = njs imports, not the block.")
@click.pass_obj
@_reports_errors
def nginx_config(obj: dict[str, Any], njs: bool) -> int:
    """Print the nginx block that serves this mirror ([serve]: fallback, negotiation, listen, ...)."""
    from .serving import NJS_MODULE, ServeSettings, nginx_block

    if njs:  # the same module for every configuration: no config needed
        click.echo(NJS_MODULE, nl=False)
        return 0
    settings = _settings(obj["config"], write_default=False)
    click.echo(nginx_block(settings, settings.serve or ServeSettings()), nl=False)
    return 0


@cli.command("update-stats")
@click.pass_obj
@_reports_errors
def update_stats(obj: dict[str, Any]) -> int:
    """Turn web server access logs into PEP 381 daily download statistics."""
    settings = _settings(obj["config"], write_default=False)
    if not settings.access_log_pattern:
        raise ConfigError(f"config {str(obj['config'])!r} has no [statistics] access-log-pattern")
    from .commands.stats import update_stats

    summary = update_stats(open_storage(settings), Layout.from_settings(settings).links, settings.access_log_pattern)
    logger.info("%s", summary)
    return 0


@cli.command()
@click.option("--hash", "check_hash", is_flag=True, help="Also check every file's sha256 (reads every byte).")
@click.option("--repair", "repair_", is_flag=True, help="Re-fetch what is missing or wrong from the master.")
@click.option("--delete", is_flag=True, help="Delete orphans: files under packages/ that no page links.")
@click.option("--dry-run", is_flag=True, help="Only say what --repair / --delete would do.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@_allow_mass_deletion
@click.pass_obj
@_reports_errors
def verify(
    obj: dict[str, Any], check_hash: bool, repair_: bool, delete: bool, dry_run: bool, as_json: bool,
    allow_mass_deletion: bool,
) -> int:
    """Check the mirror against its own pages; exit 1 when something is wrong."""
    from .commands.verify import format_problem, repair, summary_line, verify_mirror

    settings = _settings(obj["config"], write_default=False)
    storage, layout = open_storage(settings), Layout.from_settings(settings)
    writes = (repair_ or delete) and not dry_run
    progress = functools.partial(_tty_progress, label="Verifying projects") if sys.stderr.isatty() else None
    with storage.lock() if writes else contextlib.nullcontext():
        report = verify_mirror(storage, layout, check_hash=check_hash, progress=progress)
        failures = repair(
            report, settings, storage, _resync(settings, storage), refetch=repair_, delete_orphans=delete,
            dry_run=dry_run, allow_mass_deletion=allow_mass_deletion,
        )  # fmt: skip
    lines = [format_problem(problem) for problem in report.problems] + [summary_line(report)]
    click.echo(json.dumps(report.as_json(), indent=1) if as_json else "\n".join(lines))
    for failure in failures:
        logger.error("%s", failure)
    healed = not dry_run and not failures and all(report.healed(p, repair_, delete) for p in report.problems)
    return 0 if not report.problems or healed else EXIT_ERROR


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
@_reports_errors
def delete(obj: dict[str, Any], dry_run: bool, names: tuple[str, ...]) -> int:
    """Remove these projects: pages, files, .metadata and index entries."""
    settings = _settings(obj["config"], write_default=False)
    from .commands.delete import delete_projects

    deleted = delete_projects(settings, open_storage(settings), names, dry_run)
    click.echo(f"{'would delete' if dry_run else 'deleted'} {len(deleted)} projects: {' '.join(deleted)}")
    return 0


def _transfer_line(verb: str, bundle: Path, transfer: Transfer) -> str:
    return (
        f"{verb} {bundle}: serials {transfer.since} to {transfer.to}, {transfer.projects} projects changed, "
        f"{transfer.members} files ({transfer.bytes} bytes), {transfer.deleted} projects deleted"
    )


@cli.command()
@click.option("--since", type=click.IntRange(min=0), help="Serial to start from (default: the last export's).")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@_reports_errors
def export(obj: dict[str, Any], since: Optional[int], bundle: Path) -> int:
    """Air gap: write everything changed since SERIAL to one file."""
    settings = _settings(obj["config"], write_default=False)
    from .commands.bundle_export import export_bundle

    transfer = export_bundle(open_storage(settings), settings, bundle, since)
    click.echo(_transfer_line("exported to", bundle, transfer))
    return 0


@cli.command("import")
@_allow_mass_deletion
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@_reports_errors
def import_(obj: dict[str, Any], allow_mass_deletion: bool, bundle: Path) -> int:
    """Air gap: check a bundle whole, then apply it to this mirror."""
    settings = _settings(obj["config"], write_default=False)
    from .commands.bundle_import import import_bundle

    transfer = import_bundle(open_storage(settings), settings, bundle, allow_mass_deletion=allow_mass_deletion)
    click.echo(_transfer_line("imported", bundle, transfer))
    return 0


def main() -> None:
    cli(prog_name="bandersnatch")
