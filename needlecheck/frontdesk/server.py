"""`needlecheck frontdesk`: serve the front desk, purge old records once a day, and send
staff alerts (needlecheck.frontdesk.alerts)."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import timedelta

from needlecheck.config import Settings

logger = logging.getLogger(__name__)

PURGE_INTERVAL = timedelta(days=1)
MESSAGE_ID_RETENTION = timedelta(days=2)


def run_purge(sessions, retention_days: int) -> dict[str, int]:
    from needlecheck.channels import ledger
    from needlecheck.store import activity, audit, privacy, staff
    from needlecheck.store.models import utcnow

    with sessions.begin() as session:
        deleted = privacy.purge(session, utcnow() - timedelta(days=retention_days))
        staff.forget_stale(session)
        # Providers retry a webhook for hours at most; the IDs are not needed for longer.
        ledger.forget_messages(session, utcnow() - MESSAGE_ID_RETENTION)
        # "In progress" means the last half hour; the rows are not needed for days.
        activity.forget(session, utcnow() - MESSAGE_ID_RETENTION)
        audit.audit(
            session,
            staff_id=None,
            staff_username="system",
            action="purge",
            detail=f"older than {retention_days} days: " + audit.counted(deleted),
        )
    return {kind: number for kind, number in deleted.items() if number}


def summary_in_zone(sessions, settings: Settings) -> None:
    """At the start, so that the first visit to the Overview after NEEDLECHECK_TIMEZONE
    changed does not wait seconds for the rebuild."""
    import time

    from needlecheck.frontdesk.clock import clinic_zone, zone_name
    from needlecheck.store.overview import summary_in_zone as rebuild_if_moved

    began = time.perf_counter()
    with sessions.begin() as session:
        if rebuild_if_moved(session, clinic_zone(settings)):
            logger.info(
                "overview summary rebuilt for %s in %.1f s",
                zone_name(settings),
                time.perf_counter() - began,
            )


def build(settings: Settings):
    from needlecheck.frontdesk.app import create_app
    from needlecheck.store.database import create_db_engine, session_factory

    sessions = session_factory(create_db_engine(settings.database_url))
    app = create_app(sessions, settings)

    @asynccontextmanager
    async def lifespan(_app):
        async def daily() -> None:
            while True:
                try:
                    deleted = await asyncio.to_thread(run_purge, sessions, settings.retention_days)
                    logger.info("retention purge: %s", deleted or "nothing to delete")
                except Exception as error:  # the next day tries again
                    logger.error("retention purge failed: %s", error.__class__.__name__)
                await asyncio.sleep(PURGE_INTERVAL.total_seconds())

        async def summary() -> None:
            try:
                await asyncio.to_thread(summary_in_zone, sessions, settings)
            except Exception as error:  # the Overview's first visit rebuilds it then
                logger.error("overview summary not checked: %s", error.__class__.__name__)

        tasks = [asyncio.create_task(daily()), asyncio.create_task(summary())]
        # Staff alerts: email and webhook, from the outbox (needlecheck.frontdesk.alerts).
        from needlecheck.clinic import HANDOFF_WAIT_MINUTES, Clinic, ClinicFileError
        from needlecheck.config import alert_settings
        from needlecheck.frontdesk.alerts import Dispatcher

        # The person is told the clinic calls back after this wait: staff hear of it then.
        try:
            promised = Clinic.load().handoff_wait_minutes
        except ClinicFileError:  # `needlecheck check` and the assistant's start name it
            promised = HANDOFF_WAIT_MINUTES
        tasks.append(
            asyncio.create_task(Dispatcher(sessions, alert_settings(None, promised)).run())
        )
        if settings.rabbitmq_url:
            from needlecheck.frontdesk.events import consume

            tasks.append(
                asyncio.create_task(
                    consume(
                        settings.rabbitmq_url,
                        settings.events_exchange,
                        settings.events_queue,
                        sessions,
                        app.state.events,
                    )
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    app.router.lifespan_context = lifespan
    return app


def main() -> None:
    import uvicorn

    from needlecheck.config import log_level
    from needlecheck.frontdesk.hosts import frontdesk_hosts
    from needlecheck.security import logs
    from needlecheck.startup import StartupError, check_startup

    logs.install()
    try:
        settings = Settings.from_environment()
        level = log_level()
        # A wrong NEEDLECHECK_FRONTDESK_HOSTS stops the start with its reason, not per request.
        frontdesk_hosts()
        check_startup(settings)
    except (StartupError, ValueError) as error:
        raise SystemExit(f"needlecheck front desk: {error}") from None
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        build(settings),
        host=settings.host,
        port=settings.frontdesk_port,
        # The access log would carry search terms (names, phone numbers) from query strings.
        access_log=False,
        # The trusted proxy's headers are read by needlecheck.security.asgi, only from a
        # configured proxy (uvicorn would trust 127.0.0.1 unconfigured).
        proxy_headers=False,
        # No websockets here; and uvicorn's module for them needs a newer websockets than
        # Rasa allows.
        ws="none",
        log_level=level.lower(),
    )


if __name__ == "__main__":
    main()
