"""Aliyun SMS error codes (channels.md §1.7) and the typed errors the connector raises for them.

Business codes come in an HTTP 200 body whose `Code` is not `OK`; gateway codes come with an
HTTP status >= 400. Both tables are shared by the client (mapping) and the emulator (answers).
"""

from __future__ import annotations

from typing import Literal

from lifeline_hub.core.http import VendorError

Category = Literal["recipient", "channel", "permission", "request", "transient"]


class Undeliverable(VendorError):
    """Final for this recipient now (per-number flow control, bad number): a failed delivery, never retried."""


class ChannelPaused(VendorError):
    """The account cannot send (caps, balance, suspension): ops must act; never retried."""


BUSINESS: dict[str, tuple[Category, str]] = {
    "isv.BUSINESS_LIMIT_CONTROL": ("recipient", "触发天级流控Permits:50"),
    "isv.MOBILE_NUMBER_ILLEGAL": ("recipient", "非法手机号"),
    "isv.DAY_LIMIT_CONTROL": ("channel", "触发日发送限额"),
    "isv.MONTH_LIMIT_CONTROL": ("channel", "触发月发送限额"),
    "isv.AMOUNT_NOT_ENOUGH": ("channel", "账户余额不足"),
    "isv.OUT_OF_SERVICE": ("channel", "业务停机"),
    "isv.PRODUCT_UN_SUBSCRIPT": ("channel", "未开通云通信产品的阿里云客户"),
    "isv.ACCOUNT_NOT_EXISTS": ("channel", "账户不存在"),
    "isv.ACCOUNT_ABNORMAL": ("channel", "账户异常"),
    "isp.RAM_PERMISSION_DENY": ("permission", "RAM权限DENY"),
    "isv.MOBILE_COUNT_OVER_LIMIT": ("request", "手机号码数量超过限制"),
    "isv.TEMPLATE_MISSING_PARAMETERS": ("request", "模板缺少变量"),
    "isv.INVALID_JSON_PARAM": ("request", "JSON参数不合法，只接受字符串值"),
    "isv.PARAM_LENGTH_LIMIT": ("request", "参数超出长度限制"),
    "isv.PARAM_NOT_SUPPORT_URL": ("request", "不支持URL"),
    "isv.BLACK_KEY_CONTROL_LIMIT": ("request", "黑名单管控"),
    "isv.SMS_CONTENT_ILLEGAL": ("request", "短信内容包含禁止发送内容"),
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": ("request", "签名和模板类型不一致"),
    "isv.SMS_TEMPLATE_ILLEGAL": ("request", "该账号下找不到对应模板"),
    "isv.SMS_SIGNATURE_ILLEGAL": ("request", "该账号下找不到对应签名"),
    "isv.SIGN_STATE_ILLEGAL": ("request", "签名状态不可用"),
    "isv.SMS_SIGN_ILLEGAL": ("request", "签名不合法"),
    "isv.DENY_IP_RANGE": ("request", "源IP地址所在的地区被禁用"),
    "isv.EXTEND_CODE_ERROR": ("request", "扩展码使用错误，相同的扩展码不可用于多个签名"),
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": ("request", "国际/港澳台消息模板不支持发送境内号码"),
    "isp.SYSTEM_ERROR": ("transient", "系统错误"),
}
"""Documented business codes: category and a sample `Message`."""

GATEWAY: dict[str, tuple[int, str]] = {
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "Throttling": (400, "Request was denied due to request throttling."),
    "Throttling.Api": (400, "Request was denied due to api flow control."),
    "SignatureDoesNotMatch": (400, "Specified signature is not matched with our calculation."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),
    "InvalidAccessKeyId.Inactive": (400, "Specified access key is disabled."),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
}
"""Documented gateway codes with their HTTP status; `Missing<Param>`/`Invalid<Param>` are 400 too."""

_AUTH = frozenset({"SignatureDoesNotMatch", "InvalidTimeStamp.Expired", "InvalidTimeStamp.Format",
                   "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive"})


def gateway_kind(code: str, status: int) -> str:
    """`rate_limited`, `auth`, `nonce`, `transient` or `request` for a gateway error."""
    if code.startswith("Throttling"):
        return "rate_limited"
    if code in _AUTH:
        return "auth"
    if code == "SignatureNonceUsed":
        return "nonce"
    return "transient" if status >= 500 or code in ("InternalError", "ServiceUnavailable") else "request"
