list "maestro_server_identity" "servers" {
  provider         = maestro.regional
  include_resource = true
}
