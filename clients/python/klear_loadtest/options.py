"""The flags of `klear loadtest`, kept apart from the generator so `klear` starts without loading it."""

from __future__ import annotations

import argparse

from .mix import OPERATIONS, POPULATION, Mix, Slo, profile, weights


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("base_url", help="The deployment's base URL, e.g. https://klear.example.org")
    ap.add_argument("--admin-email", required=True, help="An admin account (see `klear create-admin`).")
    ap.add_argument("--admin-password-file", help="Read the admin password from this file ('-': standard input); "
                                                  "default: prompt.")
    ap.add_argument("--profile", choices=("seed", "smoke"), help="A named mix: seed = 10,000 users, "
                    "100,000 requests a minute, p99 <= 200 ms, errors <= 0.1 %%; smoke = a few seconds, 20 users.")
    ap.add_argument("--users", type=int, help="Connected users (overrides the profile).")
    ap.add_argument("--rate", type=float, help="Operations per second, all processes together.")
    ap.add_argument("--requests-per-minute", type=float, help="The same as --rate, per minute.")
    ap.add_argument("--duration", type=float, help="Seconds of load after everyone connected.")
    ap.add_argument("--scale", type=float, default=1.0, help="Multiply the profile's users and rate (e.g. 0.05).")
    ap.add_argument("--operations", help=f"Weights of {', '.join(OPERATIONS)}, e.g. browse=5,book=1,chat=3,presence=1")
    ap.add_argument("--population", help=f"Weights of {', '.join(POPULATION)} among the connected users.")
    ap.add_argument("--video-pairs", type=int, help="Video pairs (a client and a practitioner in their booking's "
                                                    "session, each publishing a VP8 loop); default 0.")
    ap.add_argument("--ice", choices=("auto", "host", "loopback"), default="auto",
                    help="ICE candidates of video pairs: loopback only, the host's addresses, or auto (loopback "
                         "when BASE_URL is on loopback).")
    ap.add_argument("--slo", action="append", default=[], metavar="OP:METRIC<=LIMIT",
                    help="An objective (repeatable), replacing the profile's: *:p99_ms<=200, book:error_ratio<=0.001")
    ap.add_argument("--processes", type=int, default=1, help="Generator processes (histograms are merged).")
    ap.add_argument("--report", default="loadtest-report", help="Report path without suffix: .json and .html.")
    ap.add_argument("--keep-users", action="store_true", help="Leave the test users in place (default: delete).")
    ap.add_argument("--seed", type=int, default=1, help="Random seed of the generators.")


def mix_from(args: argparse.Namespace) -> Mix:
    mix = profile(args.profile or "smoke")
    mix.users = int(round((args.users if args.users is not None else mix.users) * args.scale))
    rate = args.rate if args.rate is not None else (args.requests_per_minute / 60 if args.requests_per_minute else mix.rate)
    mix.rate = rate * args.scale
    if args.duration is not None:
        mix.duration = args.duration
    if args.operations:
        mix.operations = weights(args.operations, OPERATIONS)
    if args.population:
        mix.population = weights(args.population, POPULATION)
    if args.video_pairs is not None:
        mix.video_pairs = args.video_pairs
    if args.slo:
        mix.slos = tuple(Slo.parse(s) for s in args.slo)
    return mix
