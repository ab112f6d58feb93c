"""The login limiter: backoff per account-and-address, per address, and per account.

Three counts of recent failures, each with its own threshold; past it, the next attempt must
wait `base × 2^(failures − threshold)` seconds (capped) after the last failure:

- one account from one address (someone guessing one password): 5, then 1 min, 2, 4 … 15 min;
- one address, any accounts (someone spraying guesses over many accounts): 50. An account
  that logged in from that address lately is not held by this count, only by its own pair's,
  so colleagues behind one proxy are not locked out by a stranger on the same proxy;
- one account, any addresses (a guess spread over many addresses): 20, applied only to
  addresses that have themselves failed for that account.

So an account is never held back at an address that has not failed for it: 50 wrong logins
for made-up emails hold back that address for unknown emails, never the admin elsewhere.

Failures live in the database, not in the process: the app may run several workers (or
hosts) behind one proxy, and each would otherwise keep its own count (an attacker gets N
times the guesses) and forget it on every restart. Emails and addresses are stored as keyed
digests, because people type passwords into the email box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import LoginFailure, utcnow


@dataclass(frozen=True)
class Backoff:
    threshold: int
    base_seconds: float = 60.0
    cap_seconds: float = 900.0

    def wait(self, failures: int) -> float:
        if failures < self.threshold:
            return 0.0
        return min(self.cap_seconds, self.base_seconds * 2 ** (failures - self.threshold))


class LoginLimiter:
    def __init__(
        self,
        keyed: Callable[[str], str],
        *,
        pair: Backoff = Backoff(5),
        address: Backoff = Backoff(50),
        account: Backoff = Backoff(20),
        window: timedelta = timedelta(days=1),
    ) -> None:
        self.keyed = keyed  # value → keyed digest (the app's secret; see SessionSigner.keyed)
        self.pair, self.address, self.account = pair, address, account
        self.window = window

    def account_key(self, email: str) -> str:
        return self.keyed("account:" + email.strip().lower())

    def address_key(self, address: str) -> str:
        return self.keyed("address:" + address)

    def _count(self, db: Session, *conditions: object) -> tuple[int, datetime | None]:
        since = utcnow() - self.window
        count, last = db.execute(
            select(func.count(), func.max(LoginFailure.at)).where(LoginFailure.at > since, *conditions)
        ).one()
        return count or 0, last

    def wait_seconds(self, db: Session, email: str, address: str, *, known_address: bool) -> float:
        """Seconds until this account may try from this address (0: go ahead)."""
        account, where = self.account_key(email), self.address_key(address)
        now = utcnow()
        waits = []
        pair_count, pair_last = self._count(
            db, LoginFailure.account_key == account, LoginFailure.address_key == where
        )
        waits.append((self.pair.wait(pair_count), pair_last))
        if not known_address:
            address_count, address_last = self._count(db, LoginFailure.address_key == where)
            waits.append((self.address.wait(address_count), address_last))
        if pair_count:  # only an address that has failed for this account is held by its total
            account_count, account_last = self._count(db, LoginFailure.account_key == account)
            waits.append((self.account.wait(account_count), account_last))
        remaining = [
            wait - (now - last).total_seconds() for wait, last in waits if wait and last is not None
        ]
        return max([0.0, *remaining])

    def failed(self, db: Session, email: str, address: str) -> None:
        db.add(LoginFailure(account_key=self.account_key(email), address_key=self.address_key(address)))
        # Old failures count for nothing; dropping them keeps the table small.
        db.execute(delete(LoginFailure).where(LoginFailure.at <= utcnow() - self.window))

    def succeeded(self, db: Session, email: str, address: str) -> None:
        """The right password from here: this pair starts afresh (the others' counts stay)."""
        db.execute(
            delete(LoginFailure).where(
                LoginFailure.account_key == self.account_key(email),
                LoginFailure.address_key == self.address_key(address),
            )
        )
