"""The LinkedIn export importer on small hand-made exports and the synthetic one."""

from __future__ import annotations

import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.generators.synthetic_linkedin import build_export
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.importers.linkedin import LinkedInExport
from vinculo_apps.importers.linkedin_csv import normalise_name, parse_date, profile_slug

ME = "https://www.linkedin.com/in/me-owner"
ANA = "https://www.linkedin.com/in/ana-lopez"
BOB = "https://www.linkedin.com/in/bob-smith"

CONNECTIONS = (
    "Notes:\r\n"
    '"When exporting your connection data, you may notice that some of the email addresses '
    'are missing."\r\n\r\n'
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
    f"Ana,López,{ANA},,Acme,CTO,12 Mar 2023\r\n"
    f"Bob,Smith,{BOB},,Acme,Dev,01 Jan 2022\r\n"
    "Carla,Núñez,,,,,2022-05-06\r\n"
    ",,,,,,12 Mar 2023\r\n"
    "Dan,Bad,https://www.linkedin.com/in/dan,,,,not a date\r\n"
)
INVITATIONS = (
    "From,To,Sent At,Message,Direction,inviterProfileUrl,inviteeProfileUrl\n"
    f'Me Owner,Eve Adams,"3/12/23, 10:20 AM","Hola Eve, ¿un café?",OUTGOING,{ME},'
    "https://www.linkedin.com/in/eve\n"
    f'Frank Li,Me Owner,"3/14/23, 9:05 PM",,INCOMING,https://www.linkedin.com/in/frank,{ME}\n'
    "X,Y,3/14/23,,SIDEWAYS,,\n"
)
MESSAGES = (
    "CONVERSATION ID,CONVERSATION TITLE,FROM,SENDER PROFILE URL,TO,RECIPIENT PROFILE URLS,"
    "DATE,SUBJECT,CONTENT,FOLDER\n"
    # Rows out of order, as exports come: the importer sorts each conversation.
    f"c1,,Ana López,{ANA},Me Owner,{ME},2023-03-13 09:00:00 UTC,,thanks!,INBOX\n"
    f"c1,,Me Owner,{ME},Ana López,{ANA},2023-03-12 10:20:30 UTC,,welcome Ana,INBOX\n"
    f"c1,,Me Owner,{ME},Ana López,{ANA},2023-03-13 10:00:00 UTC,,coffee?,INBOX\n"
    # Bob's sender URL is missing: matched by name.
    "c2,,Bob Smith,,Me Owner,,2023-04-01 08:00:00 UTC,,hi,INBOX\n"
    f"c3,,Me Owner,{ME},Ana López;Bob Smith,{ANA};{BOB},2023-05-01 08:00:00 UTC,,group,INBOX\n"
    f"c4,,Spammer,https://www.linkedin.com/in/spam,Me Owner,{ME},2023-05-01,,buy,SPAM\n"
)
ENDORSED = (
    "Endorsement Date,Skill Name,Endorser First Name,Endorser Last Name,Endorser Public Url,"
    "Endorsement Status\n"
    "2023/06/01 08:06:57 UTC,Python,Ana,López,www.linkedin.com/in/ana-lopez,ACCEPTED\n"
    "2023/06/02 08:06:57 UTC,Go,Bob,Smith,,REJECTED\n"
)
RECOMMENDED = (
    "First Name,Last Name,Company,Job Title,Text,Creation Date,Status\n"
    'Carla,Nunez,Acme,Boss,"Great, really.","06/01/23, 10:00 AM",VISIBLE\n'
)


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_zip(
        tmp_path / "export.zip",
        {
            "Connections.csv": b"\xef\xbb\xbf" + CONNECTIONS.encode("utf-8"),
            "Invitations.csv": INVITATIONS.encode("utf-8"),
            "messages.csv": MESSAGES.encode("utf-8"),
            "Endorsement_Received_Info.csv": ENDORSED.encode("cp1252"),  # not UTF-8
            "Basic_LinkedInDataExport/Recommendations_Received.csv": RECOMMENDED.encode(),
        },
    )


def read(path: Path) -> tuple[LinkedInExport, list[pb.InteractionEvent]]:
    reader = LinkedInExport(path, "owner-1")
    return reader, list(reader.events())


def test_dates_in_every_export_style() -> None:
    expected = datetime(2023, 3, 12, tzinfo=UTC).timestamp()
    assert parse_date("12 Mar 2023") == expected
    assert parse_date("2023-03-12 10:20:30 UTC") == expected + 37230
    assert parse_date("3/12/23, 10:20 AM") == expected + 37200
    assert parse_date("3/12/23, 10:20\u202fPM") == expected + 37200 + 12 * 3600
    assert parse_date("2023-03-12T10:20:30+00:00") == expected + 37230
    with pytest.raises(ValueError, match="unrecognised"):
        parse_date("yesterday")


def test_names_and_urls_normalise() -> None:
    assert profile_slug("https://www.linkedin.com/in/Ana-Lopez/?trk=x") == "ana-lopez"
    assert profile_slug("www.linkedin.com/in/ana-lopez") == "ana-lopez"
    assert normalise_name("  Carla  NÚÑEZ ") == normalise_name("carla nunez") == "carla nunez"
    assert normalise_name("JosÃ© Ruiz") == "jose ruiz"


def test_every_file_becomes_events_of_the_owner(export: Path) -> None:
    reader, events = read(export)
    assert all(e.owner_id == "owner-1" and e.owner_only and e.channel == "linkedin" for e in events)
    kinds = Counter(pb.InteractionType.Name(e.type) for e in events)
    assert kinds == {
        "INTERACTION_TYPE_CONNECTION_ACCEPTED": 3,
        "INTERACTION_TYPE_CONNECTION_REQUEST": 2,
        "INTERACTION_TYPE_MESSAGE": 4,  # welcome, Bob's hi, group to Ana and to Bob
        "INTERACTION_TYPE_REPLY": 2,
        "INTERACTION_TYPE_ENDORSEMENT": 1,
        "INTERACTION_TYPE_RECOMMENDATION": 1,
    }
    assert reader.per_file["messages.csv"] == 6


def test_bad_rows_are_skipped_with_reasons(export: Path) -> None:
    reader, _ = read(export)
    assert reader.skips.counts == {
        "connection with neither URL nor name": 1,
        "unrecognised date 'not a date'": 1,
        "direction 'SIDEWAYS' is not INCOMING/OUTGOING": 1,
    }
    # left out on purpose: counted apart, not an error (exit status 0)
    assert reader.skips.ignored == {"message in the SPAM folder": 1, "endorsement you rejected": 1}
    assert any(example.startswith("Connections.csv:8") for example in reader.skips.examples)


def test_people_match_across_files_by_url_then_name(export: Path) -> None:
    _, events = read(export)
    by_contact = Counter(e.contact_id for e in events)
    assert by_contact["linkedin:ana-lopez"] == 6  # connection, 3 messages, group, endorsement
    assert by_contact["linkedin:bob-smith"] == 3  # connection, hi (by name), group
    assert by_contact["linkedin-name:carla nunez"] == 2  # connection + recommendation by name
    assert "linkedin:me-owner" not in by_contact


def test_replies_and_personalised_outreach(export: Path) -> None:
    _, events = read(export)
    ana = sorted(
        (e for e in events if e.contact_id == "linkedin:ana-lopez" and e.type in (4, 5)),
        key=lambda e: e.occurred_at.seconds,
    )
    welcome, thanks, coffee, group = ana
    assert (welcome.type, welcome.direction, welcome.personalized) == (4, 1, True)
    assert (thanks.type, thanks.direction, thanks.in_reply_to) == (5, 2, welcome.event_id)
    assert (coffee.type, coffee.in_reply_to, coffee.personalized) == (5, thanks.event_id, False)
    assert (group.audience_size, group.personalized) == (2, False)
    invitations = {
        e.direction: e for e in events if e.type == pb.INTERACTION_TYPE_CONNECTION_REQUEST
    }
    assert invitations[pb.DIRECTION_OUTBOUND].personalized
    assert invitations[pb.DIRECTION_OUTBOUND].contact_id == "linkedin:eve"
    assert not invitations[pb.DIRECTION_INBOUND].personalized


def test_reimport_gives_the_same_ids(export: Path) -> None:
    _, first = read(export)
    _, second = read(export)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first)


def test_missing_files_and_columns_are_tolerated(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "small.zip",
        {"Connections.csv": b"First Name,Last Name,Connected On\nAna,Lopez,12 Mar 2023\n"},
    )
    reader, events = read(path)
    assert [e.contact_id for e in events] == ["linkedin-name:ana lopez"]
    assert reader.skips.total == 0


def test_owner_is_guessed_from_messages_alone(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "m.zip", {"messages.csv": MESSAGES.encode()})
    _, events = read(path)
    assert {e.contact_id for e in events} >= {"linkedin:ana-lopez"}
    assert "linkedin:me-owner" not in {e.contact_id for e in events}


def test_synthetic_export_imports_completely(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.zip"
    contacts = build_export(path, n_connections=300, n_messages=3000, seed=3)
    reader, events = read(path)
    assert reader.skips.total == 0
    assert reader.per_file["Connections.csv"] == 300
    assert 2500 <= reader.per_file["messages.csv"] <= 3500
    ids = {e.contact_id for e in events if e.type == pb.INTERACTION_TYPE_CONNECTION_ACCEPTED}
    assert ids == {"linkedin:" + profile_slug(c.url) for c in contacts}
    assert len({e.event_id for e in events}) == len(events)


NAMESAKE_CONNECTIONS = (
    "Notes:\r\n"
    '"When exporting your connection data, you may notice that some of the email addresses '
    'are missing."\r\n\r\n'
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
    "Juan,García,https://www.linkedin.com/in/juan-garcia-1a2b,,Acme,CTO,12 Mar 2023\r\n"
    "Juan,García,https://www.linkedin.com/in/juan-garcia-9z8y,,Other,Dev,01 Jan 2022\r\n"
    "Íñigo,Fernández,https://www.linkedin.com/in/%C3%AD%C3%B1igo-fern%C3%A1ndez-716,,,,"
    "02 Jan 2022\r\n"
)
NAMESAKE_MESSAGES = (
    "CONVERSATION ID,CONVERSATION TITLE,FROM,SENDER PROFILE URL,TO,RECIPIENT PROFILE URLS,"
    "DATE,SUBJECT,CONTENT,FOLDER\n"
    f"c1,,Juan García,https://www.linkedin.com/in/juan-garcia-9z8y,Me Owner,{ME},"
    "2023-03-13 09:00:00 UTC,,hola,INBOX\n"
    f"c1,,Me Owner,{ME},Juan García,https://www.linkedin.com/in/juan-garcia-9z8y,"
    "2023-03-13 10:00:00 UTC,,qué tal,INBOX\n"
    "c2,,Juan García,,Me Owner,,2023-04-01 08:00:00 UTC,,which Juan?,INBOX\n"
    f"c3,,LinkedIn Member,,Me Owner,{ME},2023-05-01 08:00:00 UTC,,hi,INBOX\n"
    f"c4,,LinkedIn Member,,Me Owner,{ME},2023-05-02 08:00:00 UTC,,hello,INBOX\n"
    f"c5,,Íñigo Fernández,https://www.linkedin.com/in/íñigo-fernández-716,Me Owner,{ME},"
    "2023-05-03 08:00:00 UTC,,kaixo,INBOX\n"
)


def test_namesakes_stay_two_people_and_deleted_accounts_are_not_one(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "namesakes.zip",
        {
            "Connections.csv": NAMESAKE_CONNECTIONS.encode(),
            "messages.csv": NAMESAKE_MESSAGES.encode(),
        },
    )
    reader, events = read(path)
    by_contact = Counter(e.contact_id for e in events)
    assert by_contact["linkedin:juan-garcia-1a2b"] == 1  # his connection, no conversation
    assert by_contact["linkedin:juan-garcia-9z8y"] == 3  # connection and his conversation
    assert len({e.event_id for e in events}) == len(events)  # no namesake "duplicates"
    # a row naming "Juan García" without a URL could be either: reported, not guessed
    assert reader.skips.counts == {
        "ambiguous: 2 contacts are named 'juan garcia' and this row has no profile URL "
        "that tells which": 1
    }
    deleted = [c for c in by_contact if c.startswith("linkedin-deleted:")]
    assert len(deleted) == 2  # two conversations with deleted accounts: two people
    # the percent-encoded and the literal URL are one person
    assert by_contact["linkedin:íñigo-fernández-716"] == 2


def test_contacts_carry_their_name_company_and_position(export: Path) -> None:
    _, events = read(export)
    ana = [e for e in events if e.contact_id == "linkedin:ana-lopez"]
    assert {(e.contact_name, e.contact_company, e.contact_position) for e in ana} == {
        ("Ana López", "Acme", "CTO")
    }
    carla = {e.contact_name for e in events if e.contact_id == "linkedin-name:carla nunez"}
    assert carla == {"Carla Núñez"}  # as Connections.csv writes it
