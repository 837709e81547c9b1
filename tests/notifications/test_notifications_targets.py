"""The address policy of webhook targets: which addresses are public, which URLs a partner
may register, and which resolved address is connected to."""

import re

import pytest

from notifications.targets import InvalidWebhookUrl, check_url, is_public, pick_address

# Each refused block, an address inside it, and its nearest neighbour outside it, which is
# public: the block's edge is where the policy says it is, no wider.
BLOCKS = [
    ("this network", "0.255.255.255", "1.0.0.0"),
    ("private 10/8", "10.255.255.255", "11.0.0.0"),
    ("private 10/8, from below", "10.0.0.0", "9.255.255.255"),
    ("shared 100.64/10", "100.64.0.0", "100.63.255.255"),
    ("shared 100.64/10, from above", "100.127.255.255", "100.128.0.0"),
    ("loopback", "127.0.0.1", "128.0.0.1"),
    ("loopback, from below", "127.0.0.0", "126.255.255.255"),
    ("link-local", "169.254.169.254", "169.255.0.0"),
    ("private 172.16/12", "172.31.255.255", "172.32.0.0"),
    ("private 172.16/12, from below", "172.16.0.0", "172.15.255.255"),
    ("IETF protocol assignments", "192.0.0.255", "192.0.1.0"),
    ("documentation 192.0.2/24", "192.0.2.1", "192.0.3.0"),
    ("6to4 relay anycast", "192.88.99.1", "192.88.100.0"),
    ("private 192.168/16", "192.168.255.255", "192.169.0.0"),
    ("benchmarking", "198.19.255.255", "198.20.0.0"),
    ("benchmarking, from below", "198.18.0.0", "198.17.255.255"),
    ("documentation 198.51.100/24", "198.51.100.7", "198.51.101.0"),
    ("documentation 203.0.113/24", "203.0.113.7", "203.0.114.0"),
    ("multicast", "224.0.0.0", "223.255.255.255"),
    ("reserved", "240.0.0.1", "223.255.255.254"),
    ("broadcast", "255.255.255.255", "93.184.215.14"),
    ("unspecified", "::", "2606:2800:21f:cb07::1"),
    ("loopback", "::1", "2606:2800:21f:cb07::1"),
    ("outside global unicast", "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2000::1"),
    ("outside global unicast, from above", "4000::1", "3fff:ffff::1"),
    ("discard-only", "100::1", "2a00:1450:4001:81a::200e"),
    ("unique local", "fd00::1", "2a00:1450:4001:81a::200e"),
    ("unique local fc", "fc00::1", "2a00:1450:4001:81a::200e"),
    ("link-local", "fe80::1", "2a00:1450:4001:81a::200e"),
    ("link-local with a zone", "fe80::1%eth0", "2a00:1450:4001:81a::200e"),
    ("site-local", "fec0::1", "2a00:1450:4001:81a::200e"),
    ("multicast", "ff02::1", "2a00:1450:4001:81a::200e"),
    ("SRv6 SIDs", "5f00::1", "2a00:1450:4001:81a::200e"),
    ("IETF protocol assignments", "2001:1ff:ffff::1", "2001:200::1"),
    ("benchmarking", "2001:2::1", "2001:4860:4860::8888"),
    ("documentation 2001:db8::/32", "2001:db8::1", "2001:db9::1"),
    ("documentation 3fff::/20", "3fff:fff::1", "3fff:1000::1"),
]


@pytest.mark.parametrize(("block", "inside", "outside"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_an_address_in_a_refused_block_is_not_public_and_its_neighbour_is(
    block: str, inside: str, outside: str
) -> None:
    assert not is_public(inside)
    assert is_public(outside)


# IPv6 forms that reach an IPv4 address: each is as public as the address it embeds.
EMBEDDING = [
    ("IPv4-mapped", "::ffff:{}"),
    ("NAT64", "64:ff9b::{}"),
]


@pytest.mark.parametrize(("form", "pattern"), EMBEDDING, ids=[e[0] for e in EMBEDDING])
@pytest.mark.parametrize(
    "ipv4",
    ["127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "192.0.2.1", "0.0.0.0"],  # noqa: S104
)
def test_an_ipv6_form_embedding_a_non_public_ipv4_address_is_not_public(
    form: str, pattern: str, ipv4: str
) -> None:
    assert not is_public(pattern.format(ipv4))


@pytest.mark.parametrize(("form", "pattern"), EMBEDDING, ids=[e[0] for e in EMBEDDING])
def test_an_ipv6_form_embedding_a_public_ipv4_address_is_public(form: str, pattern: str) -> None:
    assert is_public(pattern.format("93.184.215.14"))


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("2002:7f00:1::1", "127.0.0.1"),
        ("2002:a01:203::1", "10.1.2.3"),
        ("2002:a9fe:a9fe:1::1", "169.254.169.254"),
        ("2002:c000:201::", "192.0.2.1"),
    ],
)
def test_a_6to4_address_embedding_a_non_public_ipv4_address_is_not_public(
    address: str, embedded: str
) -> None:
    assert not is_public(address)


def test_a_6to4_address_embedding_a_public_ipv4_address_is_public() -> None:
    assert is_public("2002:5db8:d70e::1")  # 93.184.215.14


# Teredo: 2001:0:<server>::<client, each bit inverted>; 93.184.215.14 inverted is
# a247:28f1, and 10.0.0.1 inverted is f5ff:fffe.
@pytest.mark.parametrize(
    "address",
    [
        "2001:0:5db8:d70e::f5ff:fffe",  # a public server, a private client
        "2001:0:a00:1::a247:28f1",  # a private server, a public client
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # RFC 4380's example: client 192.0.2.45
    ],
)
def test_a_teredo_address_with_a_non_public_server_or_client_is_not_public(address: str) -> None:
    assert not is_public(address)


def test_a_teredo_address_with_a_public_server_and_client_is_public() -> None:
    assert is_public("2001:0:5db8:d70e::a247:28f1")


@pytest.mark.parametrize(
    "address",
    [
        "::93.184.215.14",  # IPv4-compatible, deprecated
        "::10.1.2.3",
        "::ffff:0:93.184.215.14",  # IPv4-translated
        "::ffff:0:10.1.2.3",
        "64:ff9b:1::5db8:d70e",  # local-use NAT64
        "64:ff9b:1:5db8:d7:e00::",  # the same, with the address where a /48 prefix puts it
        "64:ff9b:1::a01:203",
    ],
)
def test_ipv6_forms_never_a_public_endpoint_are_refused_whatever_they_embed(
    address: str,
) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["", "partner.example", "256.0.0.1", "::g", "1.2.3"])
def test_what_is_not_an_address_is_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize(
    "url",
    [
        "https://partner.example/hook",
        "https://partner.example:8443/hook?kind=referral",
        "https://partner.example./hook",
        "https://xn--bf-lka.dk/hook",
        "https://93.184.215.14/hook",
        "https://[2606:2800:21f:cb07::1]/hook",
        "https://[2606:2800:21f:cb07::1]:8443/hook",
        "https://[::ffff:93.184.215.14]/hook",
        "https://[64:ff9b::5db8:d70e]/hook",
        "https://[2002:5db8:d70e::1]/hook",
    ],
)
def test_a_public_https_url_is_accepted(url: str) -> None:
    check_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "https://intranet/hook",
        "https://127.0.0.1/hook",
        "https://127.1/hook",
        "https://2130706433/hook",
        "https://0x7f.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://0.0.0.0/hook",
        "https://192.0.2.1/hook",
        "https://[::]/hook",
        "https://[::1]/hook",
        "https://[::1]:8443/hook",
        "https://[fe80::1%25eth0]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:7f00:1]/hook",
        "https://[64:ff9b::a01:203]/hook",
        "https://[64:ff9b:1::5db8:d70e]/hook",
        "https://[2002:a01:203::1]/hook",
        "https://[2001:0:5db8:d70e::f5ff:fffe]/hook",
        "https://[::10.1.2.3]/hook",
        "https://[::ffff:0:10.1.2.3]/hook",
        "https://[2001:db8::1]/hook",
    ],
)
def test_a_url_that_is_http_or_not_public_is_refused_except_in_development(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://partner.example/hook",
        "javascript:alert(1)",
        "https:///no-host",
        "partner",
        "https://partner.example:99999/hook",
        "https://[::1/hook",
        "https://[v1.partner]/hook",
        "https://[partner.example]/hook",
        "https://part%6eer.example/hook",
        "https://bøf.dk/hook",
        "https://-partner.example/hook",
        "https://partner_x.example/hook",
        "https://127.0.0.1 .example/hook",
    ],
)
def test_a_url_that_is_no_http_url_with_a_host_is_refused_even_in_development(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_url(url, allow_private=True)


@pytest.mark.parametrize("allow_private", [False, True])
def test_a_url_with_a_user_name_or_password_is_refused_without_repeating_them(
    allow_private: bool,
) -> None:
    with pytest.raises(InvalidWebhookUrl) as refused:
        check_url("https://partner:s3cr3t@partner.example/hook", allow_private=allow_private)
    assert "s3cr3t" not in str(refused.value)
    assert "partner:" not in str(refused.value)


def test_the_address_connected_to_is_the_resolvers_first_when_all_are_public() -> None:
    answers = ["2606:2800:21f:cb07::1", "93.184.215.14"]
    assert pick_address("partner.example", answers, allow_private=False) == answers[0]


@pytest.mark.parametrize("position", [0, 1, 2])
@pytest.mark.parametrize(
    "private",
    ["127.0.0.1", "10.1.2.3", "::1", "fe80::1%eth0", "::ffff:10.1.2.3", "64:ff9b::a01:203"],
)
def test_a_host_with_any_non_public_answer_is_refused(position: int, private: str) -> None:
    answers = ["93.184.215.14", "2606:2800:21f:cb07::1"]
    answers.insert(position, private)
    refusal = f"partner.example resolves to a private address {private}"
    with pytest.raises(InvalidWebhookUrl, match=f"^{re.escape(refusal)}$"):
        pick_address("partner.example", answers, allow_private=False)


def test_in_development_a_private_answer_is_connected_to() -> None:
    assert pick_address("partner.test", ["127.0.0.1", "::1"], allow_private=True) == "127.0.0.1"


@pytest.mark.parametrize("allow_private", [False, True])
def test_a_host_without_answers_is_refused(allow_private: bool) -> None:
    with pytest.raises(InvalidWebhookUrl, match=r"^partner\.example resolves to no address$"):
        pick_address("partner.example", [], allow_private=allow_private)


def test_an_answer_that_is_not_an_address_is_refused_even_in_development() -> None:
    with pytest.raises(InvalidWebhookUrl):
        pick_address("partner.test", ["partner.test"], allow_private=True)
