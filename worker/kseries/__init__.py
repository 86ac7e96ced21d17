"""The K-Series Order & Pay, Financial and Webhook APIs: models and one typed client."""
