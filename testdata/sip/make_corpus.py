#!/usr/bin/env python3
"""Writes the SIP corpus: one message per file, CRLF line ends.

Messages are written here as Python strings with "\n" line ends, converted to CRLF on
write; a body keeps whatever bytes it is given. Run from anywhere:
    python3 testdata/sip/make_corpus.py
The .sip files are committed; this script is how they were made and how to change them.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def crlf(text):
    return text.replace("\n", "\r\n").encode("utf-8")


def write(kind, name, head, body=b""):
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    data = head if isinstance(head, bytes) else crlf(head)
    with open(os.path.join(HERE, kind, name + ".sip"), "wb") as f:
        f.write(data + body)


SDP = crlf(
    "v=0\n"
    "o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\n"
    "s=-\n"
    "c=IN IP4 192.0.2.101\n"
    "t=0 0\n"
    "m=audio 49172 RTP/AVP 0 8 101\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=fmtp:101 0-15\n"
)

# A plain INVITE; most invalid files are one edit away from it.
INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\n"
    "Content-Length: 0\n"
    "\n"
)


def invite_with(old, new):
    assert old in INVITE, old
    return INVITE.replace(old, new)


# ---------------------------------------------------------------- valid

write(
    "valid",
    "invite_sdp",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\n"
    "Supported: timer, 100rel\n"
    "Content-Type: application/sdp\n"
    f"Content-Length: {len(SDP)}\n"
    "\n",
    SDP,
)

write(
    "valid",
    "register",
    "REGISTER sip:registrar.biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "From: Bob <sip:bob@biloxi.example.com>;tag=456248\n"
    "Call-ID: 843817637684230@998sdasdh09\n"
    "CSeq: 1826 REGISTER\n"
    "Contact: <sip:bob@192.0.2.4>;expires=7200\n"
    "Expires: 7200\n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "options",
    "OPTIONS sip:carol@chicago.example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\n"
    "Max-Forwards: 70\n"
    "To: <sip:carol@chicago.example.com>\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710\n"
    "CSeq: 63104 OPTIONS\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\n"
    "Accept: application/sdp\n"
    "Content-Length: 0\n"
    "\n",
)

# RFC 4475 `wsinv` ("A Short Tortuous INVITE") in spirit: compact names, mixed case, LWS.
write(
    "valid",
    "compact_forms",
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n"
    "TO :\n"
    " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n"
    "from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\n"
    "  ;\n"
    "  tag = 98asjd8\n"
    "MaX-fOrWaRdS: 0068\n"
    "Call-ID: wsinv.ndaksdj@192.0.2.1\n"
    "Content-Length   : 0\n"
    "cseq: 0009\n"
    "  INVITE\n"
    "Via  : SIP  /   2.0\n"
    " /UDP\n"
    "    192.0.2.2;branch=390skdjuw\n"
    "s :\n"
    "NewFangledHeader:   newfangled value\n"
    " continued newfangled value\n"
    "UnknownHeaderWithUnusualValue: ;;,,;;,;\n"
    "Route:\n"
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n"
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n"
    "  branch  =   z9hG4bK9ikj8  ,\n"
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n"
    " z9hG4bK30239\n"
    "m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\n"
    "      newvalue ;\n"
    "  secondparam ; q = 0.33\n"
    "\n",
)

write(
    "valid",
    "compact_letters",
    "MESSAGE sip:bob@biloxi.example.com SIP/2.0\n"
    "v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKcompact1\n"
    "Max-Forwards: 70\n"
    "t: <sip:bob@biloxi.example.com>\n"
    "f: <sip:alice@atlanta.example.com>;tag=49583\n"
    "i: compact-letters@pc33.atlanta.example.com\n"
    "CSeq: 1 MESSAGE\n"
    "k: timer\n"
    "s: hello\n"
    "c: text/plain\n"
    "l: 5\n"
    "\n",
    b"Hello",
)

write(
    "valid",
    "folded_headers",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com\n"
    "  ;branch=z9hG4bKfolded1\n"
    "Max-Forwards:\n"
    "\t70\n"
    "To: Bob\n"
    " <sip:bob@biloxi.example.com>\n"
    "From: Alice <sip:alice@atlanta.example.com>\n"
    "\t;tag=1928301774\n"
    "Call-ID: folded@pc33.atlanta.example.com\n"
    "CSeq: 1\n"
    "      INVITE\n"
    "Subject: I know you're there,\n"
    "         pick up the phone\n"
    "         and talk to me!\n"
    "Content-Length: 0\n"
    "\n",
)

# RFC 4475 `esc01` in spirit: escapes in the Request-URI user part.
write(
    "valid",
    "escaped_uri",
    "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n"
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK9\n"
    "Max-Forwards: 70\n"
    "To: <sip:%61lice@example.com>\n"
    "From: <sip:I%20have%20spaces@example.net>;tag=938\n"
    "Call-ID: esc01.239409asdfakjkn23onasd0-3234\n"
    "CSeq: 1234 INVITE\n"
    "Contact: <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "odd_whitespace",
    "OPTIONS sip:user@example.com SIP/2.0\n"
    "Via :  SIP / 2.0 / UDP   client.example.com : 5060 ; branch = z9hG4bKws1 ;rport\n"
    "Max-Forwards\t:\t70\n"
    "To\t: <sip:user@example.com>   \n"
    "From   :   <sip:caller@example.net>;tag=ws\n"
    "Call-ID  :  whitespace-test@client.example.com\n"
    "CSeq : \t 8   OPTIONS \t\n"
    "Content-Length :  0\n"
    "\n",
)

write(
    "valid",
    "unknown_headers",
    "OPTIONS sip:user@example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP client.example.com;branch=z9hG4bKunk1;x-unknown-param=\"with, comma\"\n"
    "Max-Forwards: 70\n"
    "To: <sip:user@example.com>\n"
    "From: <sip:caller@example.net>;tag=unk\n"
    "Call-ID: unknown-headers@client.example.com\n"
    "CSeq: 1 OPTIONS\n"
    "X-Custom-Header: something, else; entirely\n"
    "P-Asserted-Identity: \"Caller\" <sip:+4512345678@example.net;user=phone>\n"
    "Foo: \n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "ipv6_via_and_contact",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111;received=[2001:db8::9:255]\n"
    "Max-Forwards: 70\n"
    "To: <sip:bob@biloxi.example.com>\n"
    "From: <sip:alice@[2001:db8::10]>;tag=268\n"
    "Call-ID: ipv6-via@[2001:db8::9:1]\n"
    "CSeq: 1 INVITE\n"
    "Contact: <sip:alice@[2001:db8::9:1]:5070>\n"
    "Content-Length: 0\n"
    "\n",
)

# An IPv6 phone asking for our options: IPv6 Request-URI, Via with rport, Contact, Route with
# maddr (RFC 5118 §4.1 style).
write(
    "valid",
    "ipv6_options",
    "OPTIONS sip:[2001:db8::10]:5060 SIP/2.0\n"
    "Via: SIP/2.0/UDP [2001:db8::9:1]:5062;rport;branch=z9hG4bKv6opt\n"
    "Max-Forwards: 70\n"
    "To: <sip:[2001:db8::10]>\n"
    "From: \"Phone [desk]\" <sip:alice@[2001:DB8::9:1]:5062;transport=udp>;tag=v6o\n"
    "Call-ID: v6opt@2001-db8--9-1\n"
    "CSeq: 7 OPTIONS\n"
    "Route: <sip:[2001:db8::10];lr;maddr=[2001:db8::11]>\n"
    "Contact: <sip:alice@[2001:db8::9:1]:5062>;expires=60\n"
    "Contact: <sips:[::ffff:192.0.2.7]>\n"
    "Accept: application/sdp\n"
    "Content-Length: 0\n"
    "\n",
)

# RFC 5118 §4.3: the last group is part of the address, there is no port.
write(
    "valid",
    "ipv6_port_ambiguous",
    "REGISTER sip:[2001:db8::10:5070] SIP/2.0\n"
    "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\n"
    "Max-Forwards: 70\n"
    "From: \"Caller\" <sip:caller@[2001:db8::9:1]>;tag=268\n"
    "To: \"Caller\" <sip:caller@[2001:db8::9:1]>\n"
    "Call-ID: ipv6-port-ambiguous\n"
    "CSeq: 1 REGISTER\n"
    "Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>\n"
    "Content-Length: 0\n"
    "\n",
)

# RFC 5118 §4.5: received without brackets (the RFC 3261 grammar) on the top Via, with
# brackets (also deployed) below it; a bare maddr.
write(
    "valid",
    "ipv6_received_bare",
    "BYE sip:[2001:db8::10]:5070 SIP/2.0\n"
    "Via: SIP/2.0/UDP [2001:db8::9:1]:5070;received=2001:db8::9:255;rport=5070;branch=z9hG4bKas3\n"
    "Via: SIP/2.0/UDP [2001:db8::9:2];received=[2001:db8::9:254];maddr=2001:db8::9:3;branch=z9hG4bKas2\n"
    "Max-Forwards: 70\n"
    "To: <sip:bob@biloxi.example.com>;tag=b1\n"
    "From: <sip:alice@atlanta.example.com>;tag=a1\n"
    "Call-ID: ipv6-received\n"
    "CSeq: 2 BYE\n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "ipv6_request_uri",
    INVITE.replace("INVITE sip:bob@biloxi.example.com", "INVITE sip:bob@[2001:db8::10]:5070"),
)

write(
    "valid",
    "multiple_vias",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP proxy2.example.com;branch=z9hG4bK3;received=192.0.2.3\n"
    "Via: SIP/2.0/TCP proxy1.example.com:5060;branch=z9hG4bK2, SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1\n"
    "v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK0\n"
    "Max-Forwards: 67\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: multivia@pc33.atlanta.example.com\n"
    "CSeq: 2 INVITE\n"
    "Record-Route: <sip:proxy2.example.com;lr>, <sip:proxy1.example.com;lr>\n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "tel_uris",
    "INVITE sip:+4512345678@gw.example.com;user=phone SIP/2.0\n"
    "Via: SIP/2.0/UDP pbx.example.com;branch=z9hG4bKtel1\n"
    "Max-Forwards: 70\n"
    "To: <tel:+45-1234-5678>\n"
    "From: \"Reception\" <tel:+4587654321;phone-context=example.com>;tag=tel1\n"
    "Call-ID: tel-uris@pbx.example.com\n"
    "CSeq: 1 INVITE\n"
    "P-Asserted-Identity: <tel:+4587654321>\n"
    "Content-Length: 0\n"
    "\n",
)

LONG_SUBJECT = "x" * 7000
ROUTES = "".join(f"Record-Route: <sip:proxy{i}.example.com;lr>\n" for i in range(150))
write(
    "valid",
    "long_but_legal",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKlong\n"
    "Max-Forwards: 70\n"
    "To: <sip:bob@biloxi.example.com>\n"
    "From: <sip:alice@atlanta.example.com>;tag=long\n"
    "Call-ID: long-but-legal@pc33.atlanta.example.com\n"
    "CSeq: 1 INVITE\n"
    f"Subject: {LONG_SUBJECT}\n"
    f"{ROUTES}"
    "Content-Length: 0\n"
    "\n",
)

write("valid", "leading_crlf_keepalive", "\n\n\n" + INVITE)

# §18.3: on UDP, bytes past Content-Length are discarded.
write(
    "valid",
    "udp_body_longer_than_content_length",
    invite_with("Content-Length: 0", "Content-Type: text/plain\nContent-Length: 5"),
    b"HelloTRAILING-GARBAGE",
)

# §18.3: no Content-Length on UDP: the body is the rest of the datagram.
write(
    "valid",
    "udp_no_content_length",
    invite_with("Content-Length: 0\n", "Content-Type: application/sdp\n"),
    SDP,
)

write(
    "valid",
    "lowercase_names",
    "BYE sip:alice@pc33.atlanta.example.com SIP/2.0\n"
    "via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10\n"
    "max-forwards: 70\n"
    "FROM: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
    "to: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "CALL-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "cseq: 231 BYE\n"
    "content-length: 0\n"
    "\n",
)

write(
    "valid",
    "response_180",
    "SIP/2.0 180 Ringing\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "Contact: <sip:bob@192.0.2.4>\n"
    "CSeq: 314159 INVITE\n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "response_486_custom_reason",
    "SIP/2.0 486 Busy Here - in a meeting until 14:30\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "CSeq: 314159 INVITE\n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "quoted_display_names",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKquote\n"
    "Max-Forwards: 70\n"
    "To: \"Bob \\\"The Builder\\\" <b>\" <sip:bob@biloxi.example.com>\n"
    "From: \"Søren Ærø\" <sip:soren@example.dk>;tag=dk\n"
    "Call-ID: quoted@pc33.atlanta.example.com\n"
    "CSeq: 1 INVITE\n"
    "Subject: Møde kl. 14:30 – på dansk\n"
    "Content-Length: 0\n"
    "\n",
)

# RFC 4475 §3.1.1.9 `semiuri`: a semicolon in the user part. Legal; rsip 0.4's Request-Line
# tokenizer cannot read it, so the façade carries it escaped as %3B (see README.md).
write(
    "valid",
    "semicolon_in_user_part",
    "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\n"
    "Max-Forwards: 70\n"
    "To: <sip:user;par=u%40example.net@example.com>\n"
    "From: <sip:caller@example.org>;tag=33242\n"
    "Call-ID: semiuri.0ha0isndaksdj\n"
    "CSeq: 8 OPTIONS\n"
    "Accept: application/sdp, application/pkcs7-mime,\n"
    "        multipart/mixed, multipart/signed,\n"
    "        message/sip, message/sipfrag\n"
    "Content-Length: 0\n"
    "\n",
)

write(
    "valid",
    "ack_with_body_binary",
    "ACK sip:bob@192.0.2.4 SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds9\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "CSeq: 314159 ACK\n"
    "Content-Type: application/octet-stream\n"
    "Content-Length: 8\n"
    "\n",
    b"\x00\xff\r\n\r\n\x00\x01",
)

# ---------------------------------------------------------------- invalid

write("invalid", "missing_call_id",
      invite_with("Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n", ""))
write("invalid", "missing_via",
      invite_with("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n", ""))
write("invalid", "bad_cseq", invite_with("CSeq: 314159 INVITE", "CSeq: 3l4l59 INVITE"))
write("invalid", "cseq_too_large", invite_with("CSeq: 314159 INVITE", "CSeq: 2147483648 INVITE"))
write("invalid", "cseq_method_mismatch", invite_with("CSeq: 314159 INVITE", "CSeq: 314159 BYE"))
write("invalid", "negative_content_length",
      invite_with("Content-Length: 0", "Content-Length: -5"), b"hello")
write("invalid", "content_length_larger_than_body",
      invite_with("Content-Length: 0", "Content-Type: application/sdp\nContent-Length: 9999"), SDP)
write("invalid", "duplicate_content_length",
      invite_with("Content-Length: 0", "Content-Length: 5\nContent-Length: 3"), b"hello")
write("invalid", "non_numeric_content_length", invite_with("Content-Length: 0", "l: five"))
write("invalid", "sip_version_7",
      invite_with("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com SIP/7.0"))
write("invalid", "garbage_bytes", bytes(range(0x80, 0x100)) * 4)
write("invalid", "nul_byte_in_header",
      invite_with("Contact:", "Subject: nul\x00here\nContact:"))
write("invalid", "bad_utf8_in_header", crlf(invite_with("Contact:", "Subject: @@@\nContact:"))
      .replace(b"@@@", b"\xc3\x28\xff"))
write("invalid", "huge_header_line", invite_with("Contact:", "Subject: " + "h" * 9000 + "\nContact:"))
write("invalid", "too_many_headers",
      invite_with("Contact:", "".join(f"X-Filler-{i}: {i}\n" for i in range(201)) + "Contact:"))
write("invalid", "unterminated_quote_in_to",
      invite_with("To: Bob <sip:bob@biloxi.example.com>", "To: \"Bob <sip:bob@biloxi.example.com>"))
write("invalid", "max_forwards_zero", invite_with("Max-Forwards: 70", "Max-Forwards: 0"))
write("invalid", "max_forwards_garbage", invite_with("Max-Forwards: 70", "Max-Forwards: many"))
write("invalid", "unknown_method",
      invite_with("INVITE sip:bob@biloxi.example.com", "NEWMETHOD sip:bob@biloxi.example.com")
      .replace("CSeq: 314159 INVITE", "CSeq: 314159 NEWMETHOD"))
write("invalid", "lowercase_method",
      invite_with("INVITE sip:bob@biloxi.example.com", "invite sip:bob@biloxi.example.com"))
write("invalid", "unsupported_require",
      invite_with("Contact:", "Require: nonsense-extension, timer\nContact:"))
write("invalid", "tel_request_uri",
      invite_with("INVITE sip:bob@biloxi.example.com", "INVITE tel:+4512345678"))
write("invalid", "ipv6_unterminated_request_uri",
      invite_with("INVITE sip:bob@biloxi.example.com", "INVITE sip:bob@[2001:db8::10"))
write("invalid", "ipv6_unterminated_contact",
      invite_with("<sip:alice@pc33.atlanta.example.com>", "<sip:alice@[2001:db8::9:1>"))
write("invalid", "ipv6_zone_id_in_contact",
      invite_with("<sip:alice@pc33.atlanta.example.com>", "<sip:alice@[fe80::1%25eth0]:5060>"))
write("invalid", "ipv6_unterminated_from",
      invite_with("<sip:alice@atlanta.example.com>", "<sip:alice@[2001:db8::9>"))
write("invalid", "reserved_placeholder_host",
      invite_with("<sip:alice@pc33.atlanta.example.com>", "<sip:alice@v6-2001-db8--1.ipv6.invalid>"))
write("invalid", "request_line_extra_spaces",
      invite_with("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE  sip:bob@biloxi.example.com  SIP/2.0"))
write("invalid", "bad_via_no_host",
      invite_with("SIP/2.0/UDP pc33.atlanta.example.com;branch", "SIP/2.0/UDP ;branch"))
write("invalid", "duplicate_call_id",
      invite_with("CSeq:", "Call-ID: second@elsewhere.example.com\nCSeq:"))
write("invalid", "header_without_colon", invite_with("Contact:", "This line has no colon\nContact:"))
write("invalid", "fold_after_start_line",
      invite_with("SIP/2.0\nVia", "SIP/2.0\n   folded-nothing\nVia"))
write("invalid", "truncated_in_headers", crlf(INVITE)[:120])
write("invalid", "ack_content_length_mismatch",
      invite_with("INVITE sip:bob", "ACK sip:bob").replace("314159 INVITE", "314159 ACK")
      .replace("Content-Length: 0", "Content-Length: 10"))
write("invalid", "response_missing_call_id",
      "SIP/2.0 200 OK\n"
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
      "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
      "CSeq: 314159 INVITE\n"
      "Content-Length: 0\n"
      "\n")
write("invalid", "response_status_700",
      "SIP/2.0 700 Unknown Class\n"
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
      "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
      "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
      "CSeq: 314159 INVITE\n"
      "Content-Length: 0\n"
      "\n")
write("invalid", "keepalive_only", b"\r\n\r\n")

# RFC 4475 invalid messages in spirit (scalar02, ltgtruri, lwsruri, trws, escruri,
# multi01, baddn, badaspec, clerr).
write("invalid", "max_forwards_300", invite_with("Max-Forwards: 70", "Max-Forwards: 300"))
write("invalid", "request_uri_in_angle_brackets",
      invite_with("INVITE sip:bob@biloxi.example.com", "INVITE <sip:bob@biloxi.example.com>"))
write("invalid", "request_uri_embedded_lws",
      invite_with("INVITE sip:bob@biloxi.example.com", "INVITE sip:bob@biloxi.example.com; lr"))
write("invalid", "request_line_trailing_space",
      invite_with("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com SIP/2.0 "))
write("invalid", "escaped_headers_in_request_uri",
      invite_with("INVITE sip:bob@biloxi.example.com",
                  "INVITE sip:bob@biloxi.example.com?Route=%3Csip:example.com%3E"))
write("invalid", "non_ascii_request_uri",
      invite_with("INVITE sip:bob@biloxi.example.com", "INVITE sip:bøb@biloxi.example.com"))
write("invalid", "two_values_in_to",
      invite_with("To: Bob <sip:bob@biloxi.example.com>",
                  "To: Bob <sip:bob@biloxi.example.com>, Carol <sip:carol@chicago.example.com>"))
write("invalid", "non_token_display_name",
      invite_with("From: Alice <sip:alice", "From: Liddell, Alice <sip:alice"))
write("invalid", "spaces_in_addr_spec",
      invite_with("To: Bob <sip:bob@biloxi.example.com>", "To: sip:bob@ biloxi.example.com"))
write("invalid", "content_length_overflow",
      invite_with("Content-Length: 0", "Content-Length: 99999999999999999999999"))

# ---------------------------------------------------------------- RFC 4475, to the letter
# Written afresh from the RFC's descriptions (issue #19); the RFC section is in each name's
# comment.

# §3.4.1 (inv2543): an RFC 2543 INVITE — no Max-Forwards, a Via without branch, a From
# without tag. "should be accepted".
write(
    "valid",
    "rfc2543_invite",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP old-phone.atlanta.example.com\n"
    "To: <sip:bob@biloxi.example.com>\n"
    "From: <sip:carol@atlanta.example.com>\n"
    "Call-ID: rfc2543-call@old-phone.atlanta.example.com\n"
    "CSeq: 1 INVITE\n"
    "Contact: <sip:carol@old-phone.atlanta.example.com>\n"
    "Content-Length: 0\n"
    "\n",
)

# §3.1.2.18 (mismatch02): an unknown method whose CSeq names INVITE: 400, not 501.
write("invalid", "unknown_method_cseq_mismatch",
      invite_with("INVITE sip:bob@biloxi.example.com", "FROBNICATE sip:bob@biloxi.example.com"))

# §3.1.2.16 (badvers): SIP/7.0 on the Request-Line and in the Via: 505, echoing that Via.
write(
    "invalid",
    "version_7_in_via_too",
    "OPTIONS sip:bob@biloxi.example.com SIP/7.0\n"
    "Via: SIP/7.0/UDP pc33.atlanta.example.com;branch=z9hG4bKseven\n"
    "Max-Forwards: 70\n"
    "To: <sip:bob@biloxi.example.com>\n"
    "From: <sip:alice@atlanta.example.com>;tag=7\n"
    "Call-ID: version-seven@pc33.atlanta.example.com\n"
    "CSeq: 7 OPTIONS\n"
    "Content-Length: 0\n"
    "\n",
)

# §3.1.2.4 (scalar02): values too large for their fields (CSeq beyond 2**31, here beyond
# 2**64; Max-Forwards, Expires and a Contact expires beyond any sense): 400, not silence.
write(
    "invalid",
    "overlarge_scalar_values",
    "REGISTER sip:biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host7.biloxi.example.com;branch=z9hG4bKscalar\n"
    "To: <sip:bob@biloxi.example.com>\n"
    "From: <sip:bob@biloxi.example.com>;tag=8823\n"
    "CSeq: 73786976294838206464 REGISTER\n"
    "Call-ID: overlarge-scalars@host7.biloxi.example.com\n"
    "Max-Forwards: 256\n"
    "Expires: 99999999999999999999999999\n"
    "Contact: <sip:bob@host7.biloxi.example.com>;expires=555555555555555555\n"
    "Content-Length: 0\n"
    "\n",
)

# §3.3.8 (multi01): two values each of Call-ID, To, From, Max-Forwards and CSeq: 400.
# Only the Via and the (first) CSeq are needed to answer; From, To and Call-ID are left out.
write(
    "invalid",
    "repeated_single_value_headers",
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKmulti\n"
    "Max-Forwards: 70\n"
    "CSeq: 11 INVITE\n"
    "Call-ID: first-of-two@pc33.atlanta.example.com\n"
    "CSeq: 12 INVITE\n"
    "Call-ID: second-of-two@pc33.atlanta.example.com\n"
    "From: <sip:alice@atlanta.example.com>;tag=1\n"
    "To: <sip:bob@biloxi.example.com>\n"
    "To: <sip:carol@chicago.example.com>\n"
    "From: <sip:alice@atlanta.example.net>;tag=2\n"
    "Max-Forwards: 9\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\n"
    "Content-Length: 0\n"
    "\n",
)

# §3.1.1.2 (intmeth): an unknown method spelled with every token character, the same method
# in the CSeq, a display name holding BEL, NUL and DEL as quoted-pairs, unusual word
# characters in the Call-ID and a UTF-8 extension header: legal, so 501 Not Implemented (the
# runtime adds Allow), not 400 for the escaped controls.
write(
    "invalid",
    "unknown_method_escaped_controls",
    crlf(
        "~odd.Method-_!%*+`'9 sip:odd.user~(yes!)&so+on$@example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bK-odd.!%77*_+`'~\n"
        "To: \"BELL:\\@B@ NULL:\\@N@ DELETE:\\@D@\" <sip:odd.user~(yes!)&so+on$@example.com>\n"
        "From: <sip:plain@example.com>;tag=_odd~1'+`*%!-.\n"
        "Call-ID: oddmethod.call%QQ-!.*_+'@host`~)(><:\\/\"][?}{\n"
        "CSeq: 2716 ~odd.Method-_!%*+`'9\n"
        "Max-Forwards: 255\n"
        "X-Extension-~!%*+_`':  Grüße, 大停電\n"
        "Content-Length: 0\n"
        "\n"
    )
    .replace(b"@B@", b"\x07")
    .replace(b"@N@", b"\x00")
    .replace(b"@D@", b"\x7f"),
)

# RFC 5118 §4.4 (port-unambiguous): the port outside the brackets; compare §4.3
# (valid/ipv6_port_ambiguous.sip), where ":5070" is part of the address.
write(
    "valid",
    "ipv6_port_unambiguous",
    "REGISTER sip:[2001:db8::10]:5070 SIP/2.0\n"
    "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-222\n"
    "Max-Forwards: 70\n"
    "From: \"Caller\" <sip:caller@[2001:db8::9:1]>;tag=269\n"
    "To: \"Caller\" <sip:caller@[2001:db8::9:1]>\n"
    "Call-ID: ipv6-port-unambiguous\n"
    "CSeq: 1 REGISTER\n"
    "Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>\n"
    "Content-Length: 0\n"
    "\n",
)
