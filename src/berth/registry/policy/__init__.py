"""Storage policy of a registry: quotas per namespace (``quotas.Quotas``), retention of tags
(``retention``) and immutable tags (``immutability``), their rules stored in the metadata tables."""
