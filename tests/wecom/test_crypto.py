"""WeCom/WeChat callback crypto: the official sample vectors, SDK vectors, round trips, every rejection, and the
XML reader's refusals."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lifeline_hub.connectors.dingtalk.crypto import DingTalkCrypto
from lifeline_hub.connectors.wecom.crypto import (
    CryptoRejected,
    OfficialAccountCrypto,
    WXBizMsgCrypt,
    envelope_encrypt,
    parse_xml,
    signature,
    timestamp_seconds,
)
from lifeline_hub.core.connector import CallbackRejected
from lifeline_hub.core.receiver.msgcrypt import SealBroken, SealedBox

# The official WeCom sample, sbzhu/weworkapi_python callback/Sample.py (WXBizMsgCrypt demo): public test data.
OFFICIAL = WXBizMsgCrypt("hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
                         "ww1436e0e65a779aee")
OFFICIAL_GET = {"msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "timestamp": "1476416373",
                "nonce": "47744683",
                "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="}
OFFICIAL_POST_QUERY = {"msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "timestamp": "1476422779",
                       "nonce": "1597212914"}
OFFICIAL_POST_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA[Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnw"
    "u3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3"
    "mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pF"
    "rdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuP"
    "DGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>")
OFFICIAL_POST_PLAINTEXT = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName><CreateTime>1476422779"
    "</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID>"
    "</xml>")
"""The sample's own reply plaintext (its EncryptMsg example): the POST above decrypts to it."""

# wechatpy (wechatpy/wechatpy tests/test_crypto.py, WeCom `wechatpy.work.crypto`): an SDK's test data, with a
# deterministic encryption (random prefix fixed to "1234567890123456").
SDK = WXBizMsgCrypt("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a")
SDK_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
SDK_SEALED = ("9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgU"
              "RnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8"
              "NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5o"
              "azPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3")

KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()[:43]
BOX = WXBizMsgCrypt("tok3n", KEY, "wwcorp1")


def test_official_sample_url_check_decrypts_echostr() -> None:
    q = OFFICIAL_GET
    assert OFFICIAL.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]) == "1288432023552776189"


def test_official_sample_event_post_decrypts() -> None:
    q = OFFICIAL_POST_QUERY
    text = OFFICIAL.decrypt_message(OFFICIAL_POST_BODY.encode(), q["msg_signature"], q["timestamp"], q["nonce"])
    assert text == OFFICIAL_POST_PLAINTEXT
    assert parse_xml(text)["Content"] == "你好"


def test_official_sample_refuses_a_changed_nonce_and_another_corp() -> None:
    q = OFFICIAL_GET
    with pytest.raises(CryptoRejected) as changed:
        OFFICIAL.verify_url(q["msg_signature"], q["timestamp"], "47744684", q["echostr"])
    assert changed.value.why == "signature" and changed.value.code == -40001
    other = WXBizMsgCrypt(OFFICIAL.token, "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", "wwsomeoneelse")
    with pytest.raises(CryptoRejected) as foreign:
        other.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
    assert foreign.value.why == "receive_id" and foreign.value.code == -40005
    assert isinstance(foreign.value, CallbackRejected) and "-40005" in foreign.value.reason


def test_sdk_vectors_url_check_encrypt_and_decrypt() -> None:
    echo = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    assert SDK.verify_url("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", echo).isdigit()
    sealed = SDK.encrypt_message(SDK_REPLY, timestamp="1411525903", nonce="461056294", prefix=b"1234567890123456")
    assert sealed.encrypt == SDK_SEALED
    assert sealed.msg_signature == "407518b7649e86ef23978113f92d27afa9296533"
    assert parse_xml(sealed.reply_xml()) == {"Encrypt": SDK_SEALED, "MsgSignature": sealed.msg_signature,
                                             "TimeStamp": "1411525903", "Nonce": "461056294"}
    body = ("<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86i"
            "oRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7"
            "rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yC"
            "F2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NM"
            "xuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>\n"
            "<AgentID><![CDATA[1]]></AgentID>\n</xml>")
    event = parse_xml(SDK.decrypt_message(body, "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294"))
    assert (event["Content"], event["FromUserName"]) == ("test", "messense")


def test_official_account_url_check_returns_echostr_as_is() -> None:
    # wechatpy tests/test_utils.py (check_signature): token "test", the OA's 3-part signature
    oa = OfficialAccountCrypto("test", KEY, "wxappid01")
    assert oa.verify_url("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "1410685589", "test", "echo+/=") == "echo+/="
    oa.check_signature("F21891DE399B4E33A1A93C9A7B8A8FFFB5A443FF", "1410685589", "test")  # hex of either case
    with pytest.raises(CryptoRejected, match="signature"):
        oa.verify_url("f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", "1410685589", "test", "echo")
    event = "<xml><Event>TEMPLATESENDJOBFINISH</Event></xml>"
    sealed = oa.encrypt_message(event)  # safe mode: the AppID sealed in
    assert oa.decrypt_message(sealed.event_xml("gh_1"), **sealed.query) == event
    with pytest.raises(CryptoRejected, match="receive_id"):
        OfficialAccountCrypto("test", KEY, "wxotherapp").decrypt_message(sealed.event_xml("gh_1"), **sealed.query)


@pytest.mark.parametrize("message", ["", "success", "<xml><Content>张三的面试</Content></xml>", "x" * 31, "y" * 32,
                                     "z" * 1000])
def test_round_trips_through_xml_and_json_envelopes(message: str) -> None:
    sealed = BOX.encrypt_message(message)
    assert sealed.timestamp.isdigit() and sealed.nonce.isdigit()
    assert BOX.decrypt_message(sealed.event_xml("wwcorp1", "1000002"), **sealed.query) == message
    json_body = f'{{"tousername": "wwcorp1", "encrypt": "{sealed.encrypt}", "agentid": 1}}'.encode()
    assert BOX.decrypt_message(json_body, **sealed.query) == message
    assert len(base64.b64decode(sealed.encrypt)) % 32 == 0
    assert BOX.encrypt_message(message).encrypt != sealed.encrypt  # a fresh random prefix each time


def test_an_empty_receive_id_round_trips() -> None:
    bot = WXBizMsgCrypt("t", KEY, "")  # internal AI bots seal with an empty receive id
    sealed = bot.encrypt_message('{"msgtype": "text"}')
    assert bot.decrypt(sealed.encrypt, sealed.msg_signature, sealed.timestamp, sealed.nonce) == '{"msgtype": "text"}'
    with pytest.raises(CryptoRejected, match="receive_id"):
        BOX.open(bot.seal("x"))


def _raw_ciphertext(plain: bytes) -> str:
    """`plain` (whole AES blocks, no padding added) encrypted with BOX's key, base64."""
    key = base64.b64decode(KEY + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def _layout(message: bytes, receive_id: bytes = b"wwcorp1", size: int | None = None) -> bytes:
    return b"r" * 16 + struct.pack(">I", len(message) if size is None else size) + message + receive_id


@pytest.mark.parametrize(("plain", "why"), [
    (_layout(b"hi") + b"\x00" * 3, "padding"),  # pad value 0
    (_layout(b"hi") + b"\x21" * 3, "padding"),  # 33 > 32
    (_layout(b"hi") + b"\x01\x02\x03", "padding"),  # inconsistent pad bytes
    (_layout(b"hi", size=100) + b"\x03" * 3, "length"),  # length beyond the plaintext
    (b"r" * 10 + b"\x06" * 6, "length"),  # shorter than prefix + length
    (_layout(b"\xff\xfe") + b"\x03" * 3, "decrypt"),  # not UTF-8
    (_layout(b"hi", b"wwcorp2") + b"\x03" * 3, "receive_id"),
])
def test_bad_plaintexts_are_rejected_with_their_reason(plain: bytes, why: str) -> None:
    assert len(plain) % 16 == 0
    with pytest.raises(CryptoRejected) as caught:
        BOX.open(_raw_ciphertext(plain))
    assert caught.value.why == why


def test_padding_up_to_a_whole_32_byte_block_is_accepted() -> None:
    plain = _layout(b"x" * 9)  # 36 bytes + 28 of padding = 64
    assert BOX.open(_raw_ciphertext(plain + bytes([28]) * 28)) == "x" * 9
    exact = _layout(b"x" * 5)  # 32 bytes: a whole block of 32s follows
    assert BOX.open(_raw_ciphertext(exact + bytes([32]) * 32)) == "x" * 5


@pytest.mark.parametrize(("encrypt", "why"), [("not base64!", "base64"), ("", "decrypt"), ("é", "base64"),
                                              (base64.b64encode(b"x" * 15).decode(), "decrypt")])
def test_ciphertexts_that_are_no_ciphertext_are_rejected(encrypt: str, why: str) -> None:
    with pytest.raises(CryptoRejected) as caught:
        BOX.decrypt(encrypt, BOX.sign("1", "2", encrypt), "1", "2")
    assert caught.value.why == why


def test_forged_and_wrong_token_signatures_are_rejected_before_decrypting() -> None:
    sealed = BOX.encrypt_message("<xml/>")
    for offered in ("0" * 40, "", "é" * 40, WXBizMsgCrypt("guessed", KEY, "wwcorp1").sign(
            sealed.timestamp, sealed.nonce, sealed.encrypt)):
        with pytest.raises(CryptoRejected) as caught:
            BOX.decrypt(sealed.encrypt, offered, sealed.timestamp, sealed.nonce)
        assert caught.value.why == "signature"
    assert BOX.decrypt(sealed.encrypt, sealed.msg_signature.upper(), sealed.timestamp, sealed.nonce) == "<xml/>"


def test_signature_is_sha1_of_the_sorted_parts() -> None:
    assert signature("b", "a", "c", "d") == signature("d", "c", "b", "a")
    assert signature("t", "1", "n") == hashlib.sha1(b"1nt").hexdigest()  # noqa: S324 - the protocol's hash
    assert signature("t\ud800", "1", "n") != signature("t", "1", "n")  # a lone surrogate is merely different


@pytest.mark.parametrize(("body", "found"), [
    ("<xml><Encrypt>abc</Encrypt></xml>", "abc"),
    (b'{"encrypt": "abc"}', "abc"),
    (' \n{"encrypt": "abc", "agentid": 1}', "abc"),
])
def test_envelopes(body: str | bytes, found: str) -> None:
    assert envelope_encrypt(body) == found


@pytest.mark.parametrize("body", [
    "", "<xml></xml>", "<xml><Encrypt></Encrypt></xml>", "<xml><Encrypt><a>1</a></Encrypt></xml>", "{", "[1]",
    '{"encrypt": 5}', "not xml", b"\xff\xfe<xml/>", '<!DOCTYPE x [<!ENTITY e "abc">]><xml><Encrypt>&e;</Encrypt></xml>',
    "[" * 100_000,
])
def test_unreadable_envelopes_are_rejected(body: str | bytes) -> None:
    with pytest.raises(CryptoRejected) as caught:
        envelope_encrypt(body)
    assert caught.value.why == "envelope" and caught.value.code == -40002


def test_parse_xml_reads_leaves_nested_and_repeated_elements() -> None:
    text = ("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Empty/><Spaced><![CDATA[ a b ]]></Spaced>"
            "<SubscribeMsgSentEvent><List><TemplateId>t1</TemplateId><ErrorCode>0</ErrorCode></List>"
            "<List><TemplateId>t2</TemplateId></List></SubscribeMsgSentEvent>"
            "<SelectedItems><SelectedItem><QuestionKey>q</QuestionKey><OptionIds><OptionId>1</OptionId>"
            "</OptionIds></SelectedItem></SelectedItems></xml>")
    assert parse_xml(text) == {
        "ToUserName": "gh_1", "Empty": "", "Spaced": " a b ",
        "SubscribeMsgSentEvent": {"List": [{"TemplateId": "t1", "ErrorCode": "0"}, {"TemplateId": "t2"}]},
        "SelectedItems": {"SelectedItem": {"QuestionKey": "q", "OptionIds": {"OptionId": "1"}}},
    }
    assert parse_xml("<xml>just text</xml>") == {} and parse_xml(text.encode()) == parse_xml(text)


@pytest.mark.parametrize("text", [
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml><a>&lol2;</a></xml>',
    '<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><a>1</a></xml>',
    '<!doctype xml [<!entity e SYSTEM "http://127.0.0.1/">]><xml><a>&e;</a></xml>',
    "<xml><a>&undefined;</a></xml>",
    "<xml><a>1</a>",
    "<xml>\x00</xml>",
    b"<xml><a>\xff</a></xml>",
    "<a>" * 20 + "</a>" * 20,
])
def test_parse_xml_refuses_dtds_entities_and_broken_or_deep_input(text: str | bytes) -> None:
    with pytest.raises(ValueError, match="XML"):
        parse_xml(text)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("1476416373", 1476416373), ("9999999999", 9999999999)])
def test_timestamps_are_epoch_seconds(text: str, value: int) -> None:
    assert timestamp_seconds(text) == value


@pytest.mark.parametrize("text", ["", "-1", " 1", "1.5", "²", "١٢٣", "1_000", "12345678901", "1e9"])
def test_timestamps_of_other_forms_are_rejected(text: str) -> None:
    with pytest.raises(CryptoRejected, match="timestamp"):
        timestamp_seconds(text)


@pytest.mark.parametrize("key", ["short", "=" * 43, "é" * 43])
def test_a_bad_encoding_aes_key_is_a_configuration_error(key: str) -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        WXBizMsgCrypt("t", key, "c")


def test_the_sealed_box_is_the_one_dingtalk_uses() -> None:
    """DingTalk's callbacks use WeCom's scheme: one box (core.receiver.msgcrypt), each vendor naming its rejections."""
    dingtalk = DingTalkCrypto("tok3n", KEY, "wwcorp1").encrypt("<xml/>", nonce="n", timestamp="1700000000")
    assert BOX.decrypt(dingtalk["encrypt"], dingtalk["msg_signature"], "1700000000", "n") == "<xml/>"
    with pytest.raises(SealBroken) as plain:
        SealedBox(KEY, "wwcorp2").open(dingtalk["encrypt"])
    assert plain.value.why == "receive_id"
