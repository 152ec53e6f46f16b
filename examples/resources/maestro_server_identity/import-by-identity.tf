# A server identity's resource identity is its name.
import {
  to = maestro_server_identity.server
  identity = {
    name = "regional-us-east-1"
  }
}
