"""`vinculo forget --owner X [--contact Y]`: erase a person, or one contact of a person.

Calls the scoring service's ErasureService (any instance: the tombstone reaches
every one through the tombstone topic). With `--contact`, only Y in X's network
is forgotten; without, X is forgotten as a person: X's network and X's place in
everyone else's. Needs an admin credential, or X's own (a reader of X), with the
same TLS and token options as `vinculo report`. SECURITY.md says what is erased
where, and what is not.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import grpc

from vinculo import settings as settings_mod
from vinculo.security.channel import ClientSecurity, open_channel
from vinculo.settings import SettingsError
from vinculo.timestamps import seconds_of
from vinculo.v1 import erasure_pb2 as pb
from vinculo.v1 import erasure_pb2_grpc
from vinculo_apps import addresses

TIMEOUT_S = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings_mod.add_flags(parser, ClientSecurity)
    parser.add_argument("--owner", required=True, help="the person (whose network)")
    parser.add_argument("--contact", default=None, help="forget only this contact of --owner")
    parser.add_argument(
        "--scoring",
        default=None,
        help=f"scoring address [{addresses.describe(addresses.SCORING)}]",
    )


def run(args: argparse.Namespace) -> int:
    address = addresses.resolve(addresses.SCORING, args.scoring)
    try:
        security = settings_mod.load(ClientSecurity, args)
        with open_channel(address, security) as channel:
            stub = erasure_pb2_grpc.ErasureServiceStub(channel)  # type: ignore[no-untyped-call]
            if args.contact is None:
                request = pb.ForgetOwnerRequest(owner_id=args.owner)
                reply = stub.ForgetOwner(request, timeout=TIMEOUT_S)
                what = "the person"
            else:
                contact_request = pb.ForgetContactRequest(
                    owner_id=args.owner, contact_id=args.contact
                )
                reply = stub.ForgetContact(contact_request, timeout=TIMEOUT_S)
                what = "the contact"
    except grpc.RpcError as exc:
        print(
            f"vinculo forget: scoring at {address}: {exc.code().name} {exc.details()}",
            file=sys.stderr,
        )
        return 2
    except SettingsError as exc:
        print(f"vinculo forget: {exc}", file=sys.stderr)
        return 2
    until = datetime.fromtimestamp(seconds_of(reply.forgotten_until), UTC)
    print(
        f"forgot {what}: {reply.relationships_removed} relationship(s) removed; events that "
        f"occurred up to {until:%Y-%m-%dT%H:%M:%SZ} are dropped wherever they are read"
    )
    return 0
