"""`parindex token create|revoke`: bearer tokens for people and integrations."""

from __future__ import annotations

import argparse
import getpass
from typing import Any
from uuid import UUID

from api.cli import open_parindex
from domain.access.model import token_hash, token_id
from domain.actors import Actor, Role


def _operator() -> Actor:
    return Actor(f"cli:{getpass.getuser()}", Role.SYSTEM)


def create(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        secret, result = parindex.issue_token(_operator(), args.name, Role(args.role),
                                              args.unit)
    finally:
        parindex.close()
    print(f"token id: {result.aggregate_id}  (for `parindex token revoke`)")
    print(f"holder:   {args.name} ({args.role}{', unit ' + args.unit if args.unit else ''})")
    print("secret (shown once, store it now):")
    print(secret)
    return 0


def revoke(args: argparse.Namespace) -> int:
    reference = args.token
    try:
        ref = UUID(reference)
    except ValueError:  # a secret was given instead of the id
        ref = token_id(token_hash(reference))
    parindex = open_parindex()
    try:
        parindex.revoke_token(_operator(), ref, args.reason)
    finally:
        parindex.close()
    print(f"token {ref} revoked")
    return 0


def register(sub: Any) -> None:
    token = sub.add_parser("token", help="issue or revoke bearer tokens")
    actions = token.add_subparsers(dest="token_command", required=True)
    create_cmd = actions.add_parser("create", help="issue a token (printed once)")
    create_cmd.add_argument("--role", required=True,
                            choices=[r.value for r in Role if r is not Role.SYSTEM])
    create_cmd.add_argument("--unit", help="unit code, for unit_officer and unit_head")
    create_cmd.add_argument("--name", required=True,
                            help="the holder: recorded as the actor of every event they cause")
    create_cmd.set_defaults(run=create)
    revoke_cmd = actions.add_parser("revoke", help="revoke a token by id or secret")
    revoke_cmd.add_argument("token")
    revoke_cmd.add_argument("--reason", default="revoked by an operator")
    revoke_cmd.set_defaults(run=revoke)
