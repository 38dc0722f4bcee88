"""Bringing history into Vinculo: a LinkedIn data export, event files, raw-topic records.

Every importer is a generator of `InteractionEvent`s that notes the rows it had
to skip, with the reason, in a `SkipLog`, and never stops on one bad row.
"""
