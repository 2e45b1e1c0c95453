"""The wire: generated protobuf code, domain conversion and status mapping."""
