"""A LinkedIn data export (ZIP of CSV files) as interaction events of one owner.

Files read, when present (layout in docs/importing.md): Profile.csv (the
owner's name), Connections.csv, Invitations.csv, messages.csv,
Endorsement_Given_Info.csv, Endorsement_Received_Info.csv,
Recommendations_Given.csv, Recommendations_Received.csv.

People are matched across files by profile URL (their identity: two URLs are
two people, whatever their names); a row without a URL (or with a member-id
URL) is matched by normalised name only when exactly one contact has that name,
and reported as ambiguous when namesakes share it. A contact's id is
`linkedin:<profile slug>` or, when no URL is ever seen, `linkedin-name:<normalised
name>`; a deleted account ("LinkedIn Member", no URL) is one contact per
conversation, `linkedin-deleted:<hash>`, never one for all of them. Every event is `owner_only`
(imported contacts are not Vinculo users) and its id is a hash of the file and
the row's natural key, so importing the same export again changes nothing.

messages.csv is held in memory as small tuples per conversation (no message
text) because replies are found by ordering a conversation's messages, and
exports do not sort them; a personal export is at most a few hundred thousand
messages.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vinculo.timestamps import set_seconds
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import MAX_PROFILE_LENGTH
from vinculo_apps.importers.common import SkipLog, stable_id
from vinculo_apps.importers.linkedin_csv import (
    find_member,
    fix_mojibake,
    normalise_name,
    parse_date,
    read_rows,
)
from vinculo_apps.importers.linkedin_people import (
    Ambiguous,
    People,
    Person,
    person,
)

CHANNEL = "linkedin"
OUT, IN, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL


@dataclass
class LinkedInExport:
    """One export being read: call `events()` once, then read `skips` and `per_file`."""

    path: Path
    owner_id: str
    skips: SkipLog = field(default_factory=SkipLog)
    per_file: Counter[str] = field(default_factory=Counter)
    people: People = field(default_factory=People)
    # contact id -> (name as written, company, position), for people to read
    profiles: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def events(self) -> Iterator[pb.InteractionEvent]:
        with zipfile.ZipFile(self.path) as archive:
            self._read_profile(archive)
            yield from self._connections(archive)
            yield from self._invitations(archive)
            yield from self._messages(archive)
            yield from self._services(archive)

    # --- helpers ----------------------------------------------------------------

    def _event(
        self, file: str, key: tuple[str, ...], contact: str, kind: int, direction: int, t: float
    ) -> pb.InteractionEvent:
        event = pb.InteractionEvent(
            event_id=stable_id("li", file, *key),
            owner_id=self.owner_id,
            contact_id=contact,
            type=kind,  # type: ignore[arg-type]
            direction=direction,  # type: ignore[arg-type]
            channel=CHANNEL,
            owner_only=True,
        )
        set_seconds(event.occurred_at, int(t))
        profile = self.profiles.get(contact)
        if profile is not None:
            name, company, position = (value[:MAX_PROFILE_LENGTH] for value in profile)
            event.contact_name, event.contact_company, event.contact_position = (
                name,
                company,
                position,
            )
        self.per_file[file] += 1
        return event

    def _rows(
        self, archive: zipfile.ZipFile, file: str, anchors: tuple[str, ...]
    ) -> Iterator[tuple[str, dict[str, str]]]:
        info = find_member(archive, file)
        if info is None:
            return
        for line, row in read_rows(archive, info, anchors, self.skips):
            yield f"{file}:{line}", row

    def _contact(
        self, where: str, who: Person, company: str = "", position: str = ""
    ) -> str | None:
        """The contact's id, or None with the row reported when the match is ambiguous.

        Connections.csv gives name, company and position; other files a name only,
        kept when nothing better is known.
        """
        try:
            contact = self.people.contact_id(who)
        except Ambiguous as exc:
            self.skips.skip(where, f"ambiguous: {exc}")
            return None
        if company or position:
            self.profiles[contact] = (who.display, company.strip(), position.strip())
        elif who.display:
            self.profiles.setdefault(contact, (who.display, "", ""))
        return contact

    def _time(self, where: str, text: str) -> float | None:
        try:
            return parse_date(text)
        except ValueError as exc:
            self.skips.skip(where, str(exc))
            return None

    # --- files ------------------------------------------------------------------

    def _read_profile(self, archive: zipfile.ZipFile) -> None:
        for _, row in self._rows(archive, "Profile.csv", ("first name", "last name")):
            name = normalise_name(f"{row['first name']} {row['last name']}")
            if name:
                self.people.owner_names.add(name)

    def _connections(self, archive: zipfile.ZipFile) -> Iterator[pb.InteractionEvent]:
        file = "Connections.csv"
        for where, row in self._rows(archive, file, ("first name", "last name")):
            who = person(row.get("url", ""), row["first name"], row["last name"])
            if not who.slug and not who.name:
                self.skips.skip(where, "connection with neither URL nor name")
                continue
            t = self._time(where, row.get("connected on", ""))
            if t is None:
                continue
            contact = self._contact(where, who, row.get("company", ""), row.get("position", ""))
            if contact is None:
                continue
            yield self._event(
                file, (contact,), contact, pb.INTERACTION_TYPE_CONNECTION_ACCEPTED, MUTUAL, t
            )

    def _invitations(self, archive: zipfile.ZipFile) -> Iterator[pb.InteractionEvent]:
        file = "Invitations.csv"
        for where, row in self._rows(archive, file, ("from", "to", "direction")):
            direction = row["direction"].upper()
            inviter = person(row.get("inviterprofileurl", ""), row["from"])
            invitee = person(row.get("inviteeprofileurl", ""), row["to"])
            if direction not in ("OUTGOING", "INCOMING"):
                self.skips.skip(where, f"direction {row['direction']!r} is not INCOMING/OUTGOING")
                continue
            me, other = (inviter, invitee) if direction == "OUTGOING" else (invitee, inviter)
            self._learn_owner(me)
            if not other.slug and not other.name:
                self.skips.skip(where, "invitation without the other person's URL or name")
                continue
            t = self._time(where, row.get("sent at", ""))
            if t is None:
                continue
            contact = self._contact(where, other)
            if contact is None:
                continue
            way = OUT if direction == "OUTGOING" else IN
            event = self._event(
                file,
                (direction, contact, row["sent at"]),
                contact,
                pb.INTERACTION_TYPE_CONNECTION_REQUEST,
                way,
                t,
            )
            event.personalized = bool(row.get("message", "").strip())
            yield event

    def _learn_owner(self, me: Person) -> None:
        if me.slug:
            self.people.owner_slugs.add(me.slug)
        if me.name:
            self.people.owner_names.add(me.name)

    def _messages(self, archive: zipfile.ZipFile) -> Iterator[pb.InteractionEvent]:
        file = "messages.csv"
        conversations: dict[str, list[_Message]] = defaultdict(list)
        for where, row in self._rows(archive, file, ("conversation id", "from")):
            message = self._message(where, row)
            if message is not None:
                conversations[message.conversation].append(message)
        if not self.people.owner_slugs and not self.people.owner_names:
            self._guess_owner(conversations)
        for messages in conversations.values():
            messages.sort(key=lambda m: (m.time, m.where))
            yield from self._conversation(file, messages)

    def _message(self, where: str, row: dict[str, str]) -> _Message | None:
        if row.get("folder", "").upper() == "SPAM":
            self.skips.ignore("message in the SPAM folder")
            return None
        # Newer exports hold unsent drafts too (IS MESSAGE DRAFT = Yes, FOLDER = DRAFT):
        # counted, one would read as a message the owner sent.
        draft = row.get("is message draft", "").strip().lower() in ("yes", "true")
        if draft or row.get("folder", "").upper() == "DRAFT":
            self.skips.ignore("draft message, never sent")
            return None
        t = self._time(where, row.get("date", ""))
        if t is None:
            return None
        conversation = row["conversation id"]
        sender = person(
            row.get("sender profile url", ""), row["from"], in_conversation=conversation
        )
        urls = [u for u in _split(row.get("recipient profile urls", ""), ";,") if u.strip()]
        names = _split(fix_mojibake(row.get("to", "")), ",;")
        count = max(len(urls), len(names))
        recipients = tuple(
            person(
                urls[i] if i < len(urls) else "",
                names[i] if i < len(names) else "",
                in_conversation=conversation,
            )
            for i in range(count)
        )
        recipients = tuple(r for r in recipients if r.slug or r.name or r.anonymous_in)
        if not (sender.slug or sender.name or sender.anonymous_in) or not recipients:
            self.skips.skip(where, "message without sender or recipients")
            return None
        digest = hashlib.blake2b(row.get("content", "").encode(), digest_size=8).hexdigest()
        key = (conversation, row.get("date", ""), sender.slug or sender.name, digest)
        return _Message(row["conversation id"], t, where, sender, recipients, key)

    def _guess_owner(self, conversations: dict[str, list[_Message]]) -> None:
        """Without Profile.csv or invitations, the owner is in the most conversations."""
        # Counted by name: the owner's URL is often missing on one side of a row.
        seen: Counter[str] = Counter()
        slugs: dict[str, set[str]] = defaultdict(set)
        for messages in conversations.values():
            people = {p for m in messages for p in (m.sender, *m.recipients) if not p.anonymous_in}
            seen.update({p.name or p.slug for p in people})
            for p in people:
                slugs[p.name or p.slug].add(p.slug)
        if seen:
            top = seen.most_common(1)[0][0]
            self.people.owner_names.add(top)
            self.people.owner_slugs.update(s for s in slugs[top] if s)

    def _conversation(self, file: str, messages: list[_Message]) -> Iterator[pb.InteractionEvent]:
        last_sender: str | None = None  # contact id, or "" for the owner
        last_event: dict[tuple[str, int], str] = {}  # (contact, direction) -> event id
        for m in messages:
            if self.people.is_owner(m.sender):
                others = [r for r in m.recipients if not self.people.is_owner(r)]
                direction = OUT
            elif any(self.people.is_owner(r) for r in m.recipients):
                others = [m.sender]
                direction = IN
            else:
                self.skips.skip(m.where, "the owner is neither sender nor recipient")
                continue
            found = [self._contact(m.where, who) for who in others]
            contacts = [c for c in found if c is not None]
            if not contacts:
                continue
            audience = len(m.recipients)
            for contact in contacts:
                answered = last_sender == ("" if direction == IN else contact)
                kind = pb.INTERACTION_TYPE_REPLY if answered else pb.INTERACTION_TYPE_MESSAGE
                event = self._event(file, (*m.key, contact), contact, kind, direction, m.time)
                event.audience_size = audience
                previous = last_event.get((contact, IN if direction == OUT else OUT))
                if answered and previous:
                    event.in_reply_to = previous
                # The owner's own first private message in an exchange is written for
                # this person: personalised outreach (the posts' welcome message).
                event.personalized = direction == OUT and audience == 1 and not answered
                last_event[(contact, direction)] = event.event_id
                yield event
            last_sender = "" if direction == OUT else contacts[0]

    def _services(self, archive: zipfile.ZipFile) -> Iterator[pb.InteractionEvent]:
        endorse, recommend = pb.INTERACTION_TYPE_ENDORSEMENT, pb.INTERACTION_TYPE_RECOMMENDATION
        sources = (
            ("Endorsement_Given_Info.csv", "endorsee", OUT, endorse, "endorsement date"),
            ("Endorsement_Received_Info.csv", "endorser", IN, endorse, "endorsement date"),
            ("Recommendations_Given.csv", "", OUT, recommend, "creation date"),
            ("Recommendations_Received.csv", "", IN, recommend, "creation date"),
        )
        for file, role, direction, kind, date_column in sources:
            first, last = (
                (f"{role} first name", f"{role} last name") if role else ("first name", "last name")
            )
            for where, row in self._rows(archive, file, (first, last)):
                if row.get("endorsement status", "").upper() == "REJECTED":
                    self.skips.ignore("endorsement you rejected")
                    continue
                who = person(row.get(f"{role} public url", ""), row[first], row[last])
                if not who.slug and not who.name:
                    self.skips.skip(where, "no name or URL")
                    continue
                t = self._time(where, row.get(date_column, ""))
                if t is None:
                    continue
                contact = self._contact(where, who)
                if contact is None:
                    continue
                detail = row.get("skill name", "") or row.get("text", "")[:200]
                yield self._event(
                    file, (contact, row.get(date_column, ""), detail), contact, kind, direction, t
                )


@dataclass(frozen=True, slots=True)
class _Message:
    conversation: str
    time: float
    where: str
    sender: Person
    recipients: tuple[Person, ...]
    key: tuple[str, ...]


def _split(text: str, separators: str) -> list[str]:
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return [part.strip() for part in text.split(separators[0]) if part.strip()]
