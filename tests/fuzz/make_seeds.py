#!/usr/bin/python3
"""Writes the hand-made seeds of the jwt, registration_token and h2_server fuzz
targets into tests/fuzz/corpus/<target>/ (what libFuzzer grew from them sits
beside them, named by content). Tokens are signed with the fixed keys of
fuzz_keys.h, by the openssl command line; HTTP/2 frames come from python3-h2
(Debian's), as a client writes them. Run it again only to change these seeds:
    /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import base64
import json
import os
import subprocess
import tempfile

import h2.config
import h2.connection
import h2.errors

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
ISSUER = "926a99c04a983588945a9f782de766e9a951aa827793d488b0d5c91462c4eec2"    # fuzz_keys.h kIssuerScalar
STRANGER = "6c53c295c60dacdc67d5c6436ebae0134903dbb9d1a77f0b7166adaa18cf3dc4"  # kStrangerScalar
HEADER = '{"typ":"JWT","alg":"ES256"}'
NODE = "aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmm"  # registration_token_fuzz.cc kNode
NOW = 1_700_000_000  # jwt_fuzz.cc kNow
FAR = 4_000_000_000  # 2096: within registration_token_fuzz.cc's lifetime bound for as long as that matters


def b64(data):
    return base64.urlsafe_b64encode(data.encode() if isinstance(data, str) else data).rstrip(b"=").decode()


def es256(scalar_hex, data):
    """Raw r||s of ECDSA P-256 SHA-256 by the key of a private scalar."""
    # SEC 1 ECPrivateKey: version 1, the scalar, parameters prime256v1.
    der = bytes.fromhex("30310201010420" + scalar_hex + "a00a06082a8648ce3d030107")
    with tempfile.NamedTemporaryFile(suffix=".der") as key:
        key.write(der)
        key.flush()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-keyform", "DER", "-sign", key.name],
                             input=data.encode(), capture_output=True, check=True).stdout
    # ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }, each to 32 bytes.
    assert sig[0] == 0x30
    at, out = 2, b""
    for _ in range(2):
        assert sig[at] == 0x02
        n = sig[at + 1]
        out += int.from_bytes(sig[at + 2:at + 2 + n], "big").to_bytes(32, "big")
        at += 2 + n
    return out


def jwt(claims, scalar=ISSUER, header=HEADER):
    signing_input = b64(header) + "." + b64(json.dumps(claims, separators=(",", ":")))
    return signing_input + "." + b64(es256(scalar, signing_input))


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def jwt_seeds():
    vapid = {"aud": "https://push.example.net", "exp": NOW + 3600, "sub": "mailto:ops@example.com"}
    write("jwt", "vapid.txt", jwt(vapid))
    reg = {"aud": "spiffe://cluster.local", "exp": NOW + 86400, "sub": "spiffe://cluster.local/ns/default/sa/phone",
           "node_id": NODE}
    write("jwt", "registration.txt", jwt(reg))
    write("jwt", "other-key.txt", jwt(vapid, scalar=STRANGER))
    write("jwt", "alg-none.txt", b64('{"alg":"none"}') + "." + b64(json.dumps(vapid)) + ".")
    # Signed by the target itself: claims alone, then header and claims.
    write("jwt", "signed-claims.bin", "\0" + json.dumps(
        {"aud": ["x", "https://push.example.net"], "exp": NOW + 100.5, "nbf": NOW - 10, "sub": "mailto:a@b"}))
    write("jwt", "signed-header-claims.bin", "\0" + '{"alg":"ES256","kid":"k1"}' + "\0" + json.dumps(reg))
    # Binary claims (0x01): flags (exp, nbf; aud a string), exp and nbf little-endian, sub.
    write("jwt", "binary-claims.bin", b"\x01" + bytes([1 | 8]) + (NOW + 3600).to_bytes(8, "little")
          + (NOW - 60).to_bytes(8, "little") + b"mailto:ops@example.com")
    # Dates at the ends of int64: the leeway once overflowed them (jwt_test DatesAtTheEndsOfTheRange).
    write("jwt", "signed-exp-int64-max.bin",
          '\0{"aud":"https://push.example.net","exp":9223372036854775807,"sub":"mailto:a@b"}')
    write("jwt", "signed-nbf-int64-min.bin",
          '\0{"aud":"https://push.example.net","exp":1700000100,"nbf":-9223372036854775807}')


def registration_token_seeds():
    claims = {"aud": "spiffe://mesh.test", "exp": FAR, "sub": "spiffe://mesh.test/ns/default/sa/phone", "node_id": NODE}
    write("registration_token", "line.txt", "UGATE-TOKEN " + jwt(claims) + "\r\n")
    write("registration_token", "line-then-preface.txt",
          "UGATE-TOKEN " + jwt(claims, scalar=STRANGER) + "\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    write("registration_token", "no-token.txt", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    write("registration_token", "signed-claims.bin", "\0" + json.dumps(claims))
    write("registration_token", "signed-foreign-subject.bin",
          "\0" + json.dumps(dict(claims, sub="spiffe://other.test/ns/x/sa/y", node_id="another")))


def h2_client():
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False, header_encoding="utf-8")
    c = h2.connection.H2Connection(config)
    c.initiate_connection()
    return c


def h2_server_seeds():
    hop = [("forwarded", 'for="198.51.100.4:5555"'), ("baggage", "k=v"),
           ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    c = h2_client()
    c.increment_flow_control_window(1 << 20)
    c.send_headers(1, [(":method", "CONNECT"), (":authority", "127.0.0.1:8080")] + hop)
    c.send_data(1, b"hello", end_stream=True)
    write("h2_server", "connect-data-end.bin", c.data_to_send())

    c = h2_client()
    c.send_headers(1, [(":method", "CONNECT"), (":authority", "[::1]:443"), ("forwarded", "for=192.0.2.1")])
    c.send_headers(3, [(":method", "CONNECT"), (":authority", "example.com:80")])
    c.send_headers(5, [(":method", "CONNECT"), (":authority", "10.0.0.1:22")])
    c.send_data(3, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    c.reset_stream(5, h2.errors.ErrorCodes.CANCEL)
    c.ping(b"12345678")
    c.send_data(1, b"x" * 1000, end_stream=True)
    write("h2_server", "three-connects.bin", c.data_to_send())

    c = h2_client()
    c.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "a.test")],
                   end_stream=True)
    c.send_headers(3, [(":method", "CONNECT"), (":authority", "no-port.test")])
    c.send_headers(5, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":path", "/"),
                       (":authority", "a.test:443")])
    c.send_headers(7, [(":method", "CONNECT"), (":authority", "a.test:443"), ("x-big", "v" * 17000)])
    write("h2_server", "refusals.bin", c.data_to_send())

    c = h2_client()
    c.send_headers(1, [(":method", "CONNECT"), (":authority", "127.0.0.1:9")])
    c.close_connection()
    write("h2_server", "goaway.bin", c.data_to_send())


if __name__ == "__main__":
    jwt_seeds()
    registration_token_seeds()
    h2_server_seeds()
