"""Acceptance-test harness: drives the real `tofu` CLI (or `terraform`, MAESTRO_TEST_CLI) against
the moto-based emulator.

Modules, each small and single-purpose:
- settings: where things live (cache dir, the CLI under test and its binary, repo root, provider
  address/version)
- emulator: start/stop `acceptance-tests/emulator/run_server.py`
- aws_accounts: the regional and management accounts reached through sts:AssumeRole
- aws_inspect: boto3 look-ups and out-of-band edits the tests use to check AWS directly
- policy_documents: the IAM documents the provider must write, and a semantic comparison
- provider_install: build/locate the provider binary, filesystem mirror, CLI config
- hcl: rendering provider blocks and values as HCL
- tofu_workspace: one temp directory + the `tofu` commands run in it
- leak_check: scanning every artifact for private-key material and registered secrets
"""
