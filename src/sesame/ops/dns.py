"""MX look-ups for ``sesame activate``'s report (dnspython; the system's resolvers)."""

from __future__ import annotations


class MxLookupFailed(RuntimeError):
    """DNS could not answer (no resolver, timeout, SERVFAIL): the MX state is unknown."""


def lookup_mx(domain: str, timeout: float = 3.0) -> list[str]:
    """The domain's MX exchanges, most preferred first; ``[]`` when it has none."""
    try:
        import dns.exception
        import dns.resolver
    except ImportError:
        raise MxLookupFailed("dnspython is not installed (pip install 'sesame-forwarder[ops]')") from None
    try:
        answer = dns.resolver.resolve(domain, "MX", lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.Timeout:
        raise MxLookupFailed(f"DNS did not answer within {timeout:g} s") from None
    except dns.exception.DNSException as exc:
        raise MxLookupFailed(f"DNS error: {exc}") from None
    records = sorted(answer, key=lambda record: record.preference)  # type: ignore[attr-defined]
    return [str(record.exchange) for record in records]  # type: ignore[attr-defined]
