# A consumer is imported by its consumer_id.
tofu import maestro_consumer.management_01 management-01
