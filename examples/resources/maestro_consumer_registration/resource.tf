# The CA of the Maestro server's TLS certificate, when the system does not trust it.
variable "maestro_ca_pem" {
  type        = string
  description = "PEM of the CA that signed the Maestro server's certificate."
}

# Registers management-01 with the Maestro server, in the same apply as its AWS wiring, so
# that the server sends work to the agent that connects as it. In one configuration with the
# consumer, name it `maestro_consumer.management_01.consumer_id`.
resource "maestro_consumer_registration" "management_01" {
  provider = maestro.regional

  name = "management-01"
  labels = {
    cluster_type = "management"
    cluster_id   = "management-01"
  }

  # Maestro's own REST API. The bearer token (if Maestro asks for one) is read from the
  # provider's MAESTRO_API_BEARER_TOKEN environment variable, so it is never stored.
  maestro_api {
    url    = "https://maestro.regional.example.com"
    ca_pem = var.maestro_ca_pem
  }
}

# Or through the regional platform API (API Gateway with IAM authorization), signed with the
# regional provider's credentials; that account must be a privileged one.
resource "maestro_consumer_registration" "management_02" {
  provider = maestro.regional

  name = "management-02"
  labels = {
    cluster_type = "management"
    cluster_id   = "management-02"
  }

  platform_api {
    url = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"
  }
}
