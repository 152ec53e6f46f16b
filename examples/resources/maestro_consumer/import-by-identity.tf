# A consumer's resource identity is its consumer_id.
import {
  to = maestro_consumer.management_01
  identity = {
    consumer_id = "management-01"
  }
}
