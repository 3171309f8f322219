"""What each event carries (docs/webhooks.md): the smallest data a receiver acts on. Members are
named by member number and a masked number; a receiver that needs more asks the API with its token
(audited, scoped). Never a login code, a password, or a whole number a member number stands for."""
from datetime import datetime

from mcrm.core.msisdn import mask_msisdn, mask_numbers


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def member_joined(*, member_no: str, msisdn: str, source: str, joined_at: datetime) -> dict:
    return {"member_no": member_no, "msisdn_masked": mask_msisdn(msisdn), "source": str(source),
            "joined_at": _when(joined_at)}


def member_opted_out(*, member_no: str, msisdn: str, channel: str, opted_out_at: datetime) -> dict:
    return {"member_no": member_no, "msisdn_masked": mask_msisdn(msisdn), "channel": str(channel),
            "opted_out_at": _when(opted_out_at)}


def number_opted_out(*, msisdn: str, channel: str, opted_out_at: datetime) -> dict:
    """A number that is no member asked for no marketing: the number is all there is to act on (a
    receiver suppresses it in its own lists), so it goes whole."""
    return {"member_no": None, "msisdn": msisdn, "channel": str(channel), "opted_out_at": _when(opted_out_at)}


def feedback_received(ticket, *, member_no: str | None) -> dict:
    """The text goes with numbers in it masked: a receiver files it, it does not call anyone."""
    return {"ticket_id": ticket.id, "kind": ticket.kind, "member_no": member_no,
            "msisdn_masked": mask_msisdn(ticket.msisdn), "text": mask_numbers(ticket.text),
            "received_at": _when(ticket.received_at)}


def campaign_finished(campaign, run) -> dict:
    return {"campaign_id": campaign.id, "name": campaign.name, "run_id": run.id, "targeted": run.targeted,
            "started_at": _when(run.started_at), "finished_at": _when(run.finished_at)}


def survey_completed(survey, session, *, member_no: str | None) -> dict:
    """That the survey was completed, not the answers (the console's export has those)."""
    return {"survey_id": survey.id, "survey_code": survey.code, "member_no": member_no,
            "msisdn_masked": mask_msisdn(session.msisdn), "completed_at": _when(session.completed_at)}
