"""aiplatform: the reference connector for async AI/video interview platforms.

Written as the example a vendor copies: protocol in docs/aiplatform-protocol.md, objects in
`wire`, records in `mapping`, HTTP in `client`, the connector in `connector`, webhook signatures in
`signing`, the emulator in `emulator`/`emulator_state`, the receiver conformance kit in
`callback_kit`, and the pluggy registration in `plugin`.
"""
