"""Aliyun SMS (Dysmsapi) connector: templated candidate SMS, delivery receipts by poll and push."""
