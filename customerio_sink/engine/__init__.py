"""The sending engine both front doors share: one call per partition of a micro-batch, that
packs, sends and journals every outcome. Runs in Spark's Python workers; imports no pyspark.
"""
