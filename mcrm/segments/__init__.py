"""Segments: sets of members defined by any combination of conditions, saved by name.

Other features use ``services`` (``member_ids_select``, ``count_members``, ``sample_members``,
``get_segment``, ``list_segments``, ``save_segment``, ``describe``) and add conditions of their own
with ``rules.register_condition`` (words and params) and, for lists the builder offers,
``sql.register_source``.
"""
