list "maestro_consumer" "fleet" {
  provider         = maestro.regional
  include_resource = true

  config {
    # Consumers the old modules made record no management account: name it here.
    management_account_ids = {
      "management-01" = "987654321098"
      "management-02" = "987654321099"
    }
  }
}
