"""WeCom and WeChat callback crypto against the SDK: wechatpy (2.0.0a26) reads what `connectors.wecom.crypto` seals,
and Lifeline reads what wechatpy seals, for WeCom (`wechatpy.work.crypto.WeChatCrypto`, receive id = corpid) and the
Official Account (`wechatpy.crypto.WeChatCrypto`, receive id = AppID). The fixed vectors are wechatpy's own
(`tests/test_crypto.py` at commit 5b8502e, reference wecom-wechat.md Q3): with the same 16-byte prefix both produce the
same ciphertext and signature, byte for byte. Messages of every length modulo the 32-byte block are used, so every
PKCS#7 pad value from 1 to 32 crosses the boundary in both directions.
"""

from __future__ import annotations

import pytest
import xmltodict
from wechatpy import crypto as oa_sdk
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature as sdk_check_signature
from wechatpy.work import crypto as work_sdk
from wechatpy.work.exceptions import InvalidCorpIdException

from lifeline_hub.connectors.wecom.crypto import CryptoRejected, OfficialAccountCrypto, WXBizMsgCrypt, parse_xml
from lifeline_hub.connectors.wecom.crypto import signature as plain_signature

TOKEN, AES_KEY, CORP_ID = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
"""wechatpy tests/test_crypto.py CryptoTestCase."""
APP_ID = "wxemulatorappid01"
PREFIX = "1234567890123456"
"""wechatpy's `PrpCryptoMock.get_random_string`: the fixed 16-byte random part of its encrypt vector."""
REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
"""wechatpy `test_encrypt_message`: the reply, then its expected envelope (Encrypt and MsgSignature)."""
REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesE"
    "l5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsD"
    "f03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nT"
    "YjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3")
REPLY_SIGNATURE, REPLY_TIMESTAMP, REPLY_NONCE = "407518b7649e86ef23978113f92d27afa9296533", "1411525903", "461056294"
ECHO = ("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425",
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==")
"""wechatpy `test_check_signature_should_ok`: msg_signature, timestamp, nonce, echostr of a URL check."""
EVENT = ("<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName><FromUserName><![CDATA[hr01]]></FromUserName>"
         "<CreateTime>1780000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
         "<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[attended]]></EventKey>"
         "<TaskId><![CDATA[ll-iv-1_attend]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
         "<ResponseCode><![CDATA[rc-面试-1]]></ResponseCode><AgentID>1000002</AgentID></xml>")
MESSAGES = [EVENT, REPLY, *("面试" + "x" * n for n in range(32))]
"""An event, a reply, and texts whose UTF-8 lengths cover every remainder modulo 32."""


class _FixedPrefix(work_sdk.PrpCrypto):
    def get_random_string(self) -> str:
        return PREFIX


def test_the_messages_cover_every_padding_value() -> None:
    pads = {32 - (20 + len(m.encode()) + len(CORP_ID)) % 32 for m in MESSAGES}
    assert pads == set(range(1, 33))


def test_sealed_with_wechatpys_prefix_lifeline_gives_its_vector_byte_for_byte() -> None:
    sealed = WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID).encrypt_message(REPLY, REPLY_TIMESTAMP, REPLY_NONCE,
                                                                    prefix=PREFIX.encode())
    assert (sealed.encrypt, sealed.msg_signature) == (REPLY_ENCRYPT, REPLY_SIGNATURE)
    envelope = xmltodict.parse(sealed.reply_xml())["xml"]  # the passive reply's envelope, as wechatpy renders it
    assert envelope == {"Encrypt": REPLY_ENCRYPT, "MsgSignature": REPLY_SIGNATURE, "TimeStamp": REPLY_TIMESTAMP,
                        "Nonce": REPLY_NONCE}


def test_wechatpy_seals_with_the_same_prefix_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(work_sdk, "PrpCrypto", _FixedPrefix)
    theirs = xmltodict.parse(work_sdk.WeChatCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message(
        REPLY, REPLY_NONCE, REPLY_TIMESTAMP))["xml"]
    ours = WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID).encrypt_message(REPLY, REPLY_TIMESTAMP, REPLY_NONCE,
                                                                  prefix=PREFIX.encode())
    assert (theirs["Encrypt"], theirs["MsgSignature"]) == (ours.encrypt, ours.msg_signature)


def test_the_url_check_vector_reads_the_same_on_both_sides() -> None:
    signature, timestamp, nonce, echostr = ECHO
    theirs = work_sdk.WeChatCrypto(TOKEN, AES_KEY, CORP_ID).check_signature(signature, timestamp, nonce, echostr)
    assert WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID).verify_url(signature, timestamp, nonce, echostr) == theirs
    with pytest.raises(CryptoRejected) as rejected:
        WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID).verify_url(signature, timestamp, "437374424", echostr)
    assert rejected.value.why == "signature"


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_wechatpy_reads_what_lifeline_seals_for_wecom(message: str) -> None:
    sealed = WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID).encrypt_message(message, "1780000000", "8231")
    body = sealed.event_xml(CORP_ID, "1000002")  # what the WeCom emulator POSTs to a callback URL
    assert work_sdk.WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(
        body, sealed.msg_signature, sealed.timestamp, sealed.nonce) == message


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_lifeline_reads_what_wechatpy_seals_for_wecom(message: str) -> None:
    envelope = work_sdk.WeChatCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message(message, "8231", "1780000000")
    fields = parse_xml(envelope)
    assert WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID).decrypt_message(
        envelope, str(fields["MsgSignature"]), str(fields["TimeStamp"]), str(fields["Nonce"])) == message


@pytest.mark.parametrize("message", MESSAGES[:2] + MESSAGES[-3:], ids=range(5))
def test_the_official_account_variant_interoperates_both_ways(message: str) -> None:
    ours = OfficialAccountCrypto(TOKEN, AES_KEY, APP_ID)
    theirs = oa_sdk.WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    sealed = ours.encrypt_message(message, "1780000000", "8231")
    assert theirs.decrypt_message(sealed.event_xml("gh_7f083739789a"), sealed.msg_signature, sealed.timestamp,
                                  sealed.nonce) == message
    envelope = parse_xml(theirs.encrypt_message(message, "8231", "1780000000"))
    assert ours.decrypt_message(f"<xml><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>",
                                str(envelope["MsgSignature"]), str(envelope["TimeStamp"]),
                                str(envelope["Nonce"])) == message


def test_the_official_account_url_signature_is_the_sdks() -> None:
    ours = OfficialAccountCrypto(TOKEN, AES_KEY, APP_ID)
    signature = plain_signature(TOKEN, "1780000000", "8231")  # [token, timestamp, nonce] alone
    sdk_check_signature(TOKEN, signature, "1780000000", "8231")  # raises when wechatpy disagrees
    assert ours.verify_url(signature, "1780000000", "8231", "echo-as-is 123") == "echo-as-is 123"
    with pytest.raises(InvalidSignatureException):
        sdk_check_signature(TOKEN, signature, "1780000001", "8231")
    with pytest.raises(CryptoRejected):
        ours.verify_url(signature, "1780000001", "8231", "echo-as-is 123")


def test_both_refuse_a_message_sealed_for_another_corp_or_account() -> None:
    other = WXBizMsgCrypt(TOKEN, AES_KEY, "wwsomeothercorp").encrypt_message(EVENT, "1780000000", "8231")
    with pytest.raises(InvalidCorpIdException):
        work_sdk.WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(
            other.event_xml(CORP_ID), other.msg_signature, other.timestamp, other.nonce)
    with pytest.raises(CryptoRejected) as rejected:
        WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID).decrypt_message(
            other.event_xml(CORP_ID), other.msg_signature, other.timestamp, other.nonce)
    assert rejected.value.why == "receive_id"
    envelope = parse_xml(oa_sdk.WeChatCrypto(TOKEN, AES_KEY, "wxanotherapp").encrypt_message(EVENT, "1", "2"))
    with pytest.raises(CryptoRejected):
        OfficialAccountCrypto(TOKEN, AES_KEY, APP_ID).decrypt(str(envelope["Encrypt"]), str(envelope["MsgSignature"]),
                                                              "2", "1")
    with pytest.raises(InvalidAppIdException):
        oa_sdk.WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
            {"Encrypt": envelope["Encrypt"]}, envelope["MsgSignature"], "2", "1")
